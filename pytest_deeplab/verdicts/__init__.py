"""Deciding pass or fail from numbers: no files, no TensorFlow, no pytest.

    masks.py       a mask against its golden: agreement, per-class IoU, the classes that changed
    miou.py        mIOU and per-class IoU against thresholds
    metrics.py     confusion matrix, IoU, pixel agreement (the one comparison primitive)
    diff_image.py  the picture a failed comparison leaves behind
    record.py      the one record of a run: outcomes derived once, the fail-closed rule
"""
