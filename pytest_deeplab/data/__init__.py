"""Pictures and labels as files: reading, resizing, listing, and the label sets that name classes.

    images.py      decode any Pillow format to RGB (EXIF ignored), DeepLab's demo resize
    labels.py      label maps (palette, grey or exact RGB colours) and image/label pairing
    masks.py       class masks: nearest-neighbour resize, colours, palette PNGs
    listing.py     the images a model is checked on, each with its golden/test id
    labelsets.py   PASCAL VOC, Cityscapes, ADE20K and numbered label sets, with colour maps
    formats.py     which files are images (no Pillow import)

numpy and Pillow only; no TensorFlow.
"""
