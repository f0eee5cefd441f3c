"""A pytest plugin for `peak_rss.py --trace`: the process's memory after each item.

Loaded with `-p rss_trace` (its folder on PYTHONPATH); prints, per item, the resident set
(VmRSS) and its high-water mark (VmHWM) from /proc/self/status, so a run shows which model
raised the peak and whether memory came back after a model was released.
"""

from __future__ import annotations

from pathlib import Path


def _status() -> dict[str, int]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) // 1024  # MiB
    return fields


def pytest_runtest_logfinish(nodeid: str, location: object) -> None:
    status = _status()
    print(f"\nRSS {status['VmRSS']:5d} MiB  peak {status['VmHWM']:5d} MiB  {nodeid}", flush=True)
