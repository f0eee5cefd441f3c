"""The built-in suite: the items `--deeplab-models` adds, per model and golden image.

    collectors.py      the `deeplab` collector: one node per model, its items, their markers
    mask.py            a mask against its golden (or written as one)
    miou.py            mIOU on the model's labelled dataset against its threshold
    latency.py         CPU inference time through pytest-benchmark
    benchmark_adapter.py  the only code touching pytest-benchmark's internals
    inputs.py          the image one measurement runs on (shared with the gate)
    machine_info.py    TensorFlow, oneDNN, threads and CPU in saved benchmark runs
    markers.py         the markers the suite's items carry
"""
