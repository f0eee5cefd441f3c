"""pytest-deeplab: regression tests for DeepLab segmentation models across TensorFlow versions."""

__version__ = "0.1.0"
