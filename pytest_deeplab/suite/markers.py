"""The built-in suite's markers (kept apart so registering them imports nothing heavy)."""

MARKERS = {
    "deeplab": "an item of pytest-deeplab's built-in model suite",
    "deeplab_mask": "pytest-deeplab: a mask-stability check against a golden mask",
    "deeplab_miou": "pytest-deeplab: an mIOU check over a labelled dataset",
    "deeplab_latency": "pytest-deeplab: a CPU inference-time benchmark",
}
