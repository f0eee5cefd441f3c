"""A loopback model zoo for the fetch tests: real HTTP, real tarballs, faults on demand.

``ZooServer`` serves files at ``/models/<name>`` from 127.0.0.1 on an ephemeral port, in a
thread, with a per-request socket timeout. Each path can be given a queue of faults, consumed
one per request, so "500 then success" is ``server.add(name, data, "500")``.
"""

from __future__ import annotations

import contextlib
import io
import socket
import struct
import tarfile
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FAULTS = ("truncate", "reset", "500", "404", "stall", "slow")


class ZooServer:
    """Files and faults for one test; use as a context manager so it always shuts down."""

    def __init__(self, *, request_timeout: float = 5.0, stall_seconds: float = 5.0) -> None:
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, deque[str]] = defaultdict(deque)
        self.hits: Counter[str] = Counter()
        self.request_timeout = request_timeout
        self.stall_seconds = stall_seconds
        self.stop_stalling = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/models"

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def add(self, name: str, data: bytes, *faults: str) -> str:
        """Serve ``data`` at /models/<name>, after the given faults (one per request)."""
        assert all(f in FAULTS for f in faults), faults
        self.files[name] = data
        self.faults[name].extend(faults)
        return self.url(name)

    def __enter__(self) -> ZooServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_stalling.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _handler_for(zoo: ZooServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = zoo.request_timeout  # socket timeout for every request

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output quiet."""

        def do_GET(self) -> None:
            name = self.path.split("/models/", 1)[-1]
            zoo.hits[name] += 1
            fault = zoo.faults[name].popleft() if zoo.faults[name] else None
            data = zoo.files.get(name)
            if data is None or fault == "404":
                self.send_error(404)
            elif fault == "500":
                self.send_error(500)
            elif fault == "slow":
                time.sleep(0.5)
                self._send(data, len(data))
            elif fault == "truncate":
                self._send(data[: len(data) // 2], len(data))
                self.close_connection = True
            elif fault == "stall":
                self._headers(len(data))
                self.wfile.flush()
                zoo.stop_stalling.wait(zoo.stall_seconds)
            elif fault == "reset":
                self._headers(len(data))
                self.wfile.write(data[: len(data) // 3])
                self.wfile.flush()
                self._reset()
            else:
                self._send(data, len(data))

        def _headers(self, length: int) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            self.end_headers()

        def _send(self, body: bytes, length: int) -> None:
            self._headers(length)
            self.wfile.write(body)

        def _reset(self) -> None:
            """Close with SO_LINGER 0: the client sees a TCP RST, not a clean end of stream."""
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True

        def finish(self) -> None:
            with contextlib.suppress(OSError, ValueError):  # the socket was reset on purpose
                super().finish()

    return Handler


# --- building zoo-format tarballs -----------------------------------------------------------


def graph_bytes(size: int = 4096, seed: int = 0) -> bytes:
    """Stand-in content for frozen_inference_graph.pb (any bytes do for fetching)."""
    return bytes((i * 31 + seed) % 251 for i in range(size))


def zoo_tarball(top: str, files: dict[str, bytes] | None = None) -> bytes:
    """A tarball shaped like the zoo's: one top folder holding the graph (and a checkpoint)."""
    files = files or {
        "frozen_inference_graph.pb": graph_bytes(),
        "model.ckpt.index": b"index",
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.addfile(_info(top, tarfile.DIRTYPE))
        for name, data in files.items():
            tar.addfile(_info(f"{top}/{name}", tarfile.REGTYPE, size=len(data)), io.BytesIO(data))
    return buf.getvalue()


def malicious_tarball(kind: str, top: str = "evil") -> bytes:
    """A zoo-looking tarball with one hostile member placed before the real graph."""
    graph = graph_bytes()
    hostile = {
        "traversal": _info(f"{top}/../../escaped.txt", tarfile.REGTYPE, size=4),
        "absolute": _info("/tmp/pytest-deeplab-absolute.txt", tarfile.REGTYPE, size=4),
        "symlink": _info(f"{top}/link", tarfile.SYMTYPE, linkname="../../../etc"),
        "symlink_absolute": _info(f"{top}/link", tarfile.SYMTYPE, linkname="/etc/passwd"),
        "hardlink": _info(f"{top}/hard", tarfile.LNKTYPE, linkname="../outside"),
        "device": _info(f"{top}/dev", tarfile.CHRTYPE),
        "fifo": _info(f"{top}/pipe", tarfile.FIFOTYPE),
    }[kind]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.addfile(_info(top, tarfile.DIRTYPE))
        tar.addfile(hostile, io.BytesIO(b"evil") if hostile.isreg() else None)
        info = _info(f"{top}/frozen_inference_graph.pb", tarfile.REGTYPE, size=len(graph))
        tar.addfile(info, io.BytesIO(graph))
    return buf.getvalue()


def _info(name: str, kind: bytes, *, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.linkname = linkname
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.mtime = 1_517_184_000  # 2018-01-29, like the zoo's files
    return info


# --- a second process for the concurrency test ----------------------------------------------


def fetch_in_subprocess(args: tuple[object, object]) -> tuple[str, str]:
    """Run fetch() in a child process; return (model path, source). Importable under spawn."""
    from pytest_deeplab.fetching.fetch import fetch

    artifact, settings = args
    got = fetch(artifact, settings)  # type: ignore[arg-type]
    return str(got.path), got.source


@contextmanager
def serving(*files: tuple[str, bytes]) -> Iterator[ZooServer]:
    """Shorthand: a started server holding the given (name, data) pairs."""
    with ZooServer() as zoo:
        for name, data in files:
            zoo.add(name, data)
        yield zoo


def tree(root: Path) -> list[str]:
    """Every path under ``root`` (relative, sorted): for asserting nothing half-made is left."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
