"""Golden masks: the pinned result of each model on each golden image, with its metadata.

    store.py   read, write (atomically) and describe goldens; what differs from the run's runtime
    prune.py   goldens no selected model used any more (--deeplab-prune-golden)
"""
