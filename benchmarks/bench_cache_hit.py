"""What a cache hit costs: ``fetch()`` for a 200 MB model must stay in the millisecond range.

The verified stamp (size + mtime_ns of the model file) is what makes this cheap; the last
benchmark shows the re-hash it replaces. Run: ``pytest benchmarks/bench_cache_hit.py``.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator

import pytest

from pytest_deeplab.fetching.fetch import Artifact, FetchSettings, cached, fetch
from pytest_deeplab.files import sha256_file

SIZE = 200 * 1024 * 1024


class _Zeros(io.RawIOBase):
    """A readable stream of n zero bytes, so the archive is built without 200 MB in memory."""

    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


@pytest.fixture(scope="module")
def warm(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FetchSettings, dict[str, Artifact]]]:
    """A cache holding a 200 MB plain model and a tarball with a 200 MB frozen graph."""
    root = tmp_path_factory.mktemp("bench")
    mirror = root / "mirror"
    mirror.mkdir()
    with (mirror / "big.tflite").open("wb") as f:  # sparse: no 200 MB write
        f.truncate(SIZE)
    with tarfile.open(mirror / "big_2018_01_29.tar.gz", "w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("big_2018_01_29/frozen_inference_graph.pb")
        info.size = SIZE
        tar.addfile(info, io.BufferedReader(_Zeros(SIZE), 1 << 20))
    settings = FetchSettings(
        cache_dir=root / "cache",
        mirrors=[str(mirror)],
        offline=True,
        lock_path=root / "deeplab-zoo.lock",
        progress=False,
    )
    base = "http://download.tensorflow.org/models/"
    artifacts = {
        "plain": Artifact("big", "big.tflite", base + "big.tflite", None),
        "tarball": Artifact(
            "big-graph",
            "big_2018_01_29.tar.gz",
            base + "big_2018_01_29.tar.gz",
            "frozen_inference_graph.pb",
        ),
    }
    for artifact in artifacts.values():
        assert fetch(artifact, settings).source == str(mirror)
    yield settings, artifacts


@pytest.mark.parametrize("kind", ["plain", "tarball"])
def test_fetch_cache_hit(benchmark, warm, kind: str) -> None:  # type: ignore[no-untyped-def]
    settings, artifacts = warm
    got = benchmark(fetch, artifacts[kind], settings)
    assert got.source == "cache"
    assert benchmark.stats.stats.median < 0.005  # "a few milliseconds" at most


def test_cached_lookup(benchmark, warm) -> None:  # type: ignore[no-untyped-def]
    settings, artifacts = warm
    assert benchmark(cached, artifacts["tarball"], settings) is not None


def test_rehash_that_the_stamp_avoids(benchmark, warm) -> None:  # type: ignore[no-untyped-def]
    settings, artifacts = warm
    path = cached(artifacts["tarball"], settings)
    assert path is not None
    benchmark.pedantic(sha256_file, args=(path,), rounds=3, iterations=1)
