"""Model files are programs: every op they hold is checked against an allowlist before any runs.

    allowlist.txt  the ops of pure computation, as data, with how the list was drawn up
    allowlist.py   reads it
    graphs.py      op uses of a GraphDef / SavedModel (library functions, saver paths)
    tflite.py      op uses of a TF Lite flatbuffer (every subgraph; custom operators)
    findings.py    OpUse, SafetyReport, UnsafeModelError and its message
    check.py       the verdict, and `checked_*` helpers the loaders call first
"""

from __future__ import annotations

from pytest_deeplab.runtime.safety.findings import OpUse, SafetyReport, UnsafeModelError

__all__ = ["OpUse", "SafetyReport", "UnsafeModelError"]
