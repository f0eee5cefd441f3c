"""Fetching models against a real loopback HTTP server, faults included.

Every test builds its own small zoo-format tarballs, serves them from ``ZooServer`` (127.0.0.1,
ephemeral port, shut down by the fixture) and checks the outcome and the cache afterwards.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from zoo_server import (
    ZooServer,
    fetch_in_subprocess,
    graph_bytes,
    malicious_tarball,
    tree,
    zoo_tarball,
)

from pytest_deeplab.fetching import cache as cache_module
from pytest_deeplab.fetching import download as download_module
from pytest_deeplab.fetching.fetch import (
    Artifact,
    FetchError,
    FetchSettings,
    IntegrityError,
    UnsafeArchiveError,
    cached,
    default_cache_dir,
    fetch,
    fetch_many,
)

TARBALL = "deeplabv3_tiny_pascal_2018_01_29.tar.gz"
TOP = "deeplabv3_tiny_pascal_2018_01_29"
GRAPH = graph_bytes()


@pytest.fixture
def zoo() -> Iterator[ZooServer]:
    with ZooServer(request_timeout=5, stall_seconds=3) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path) -> FetchSettings:
    return FetchSettings(
        cache_dir=tmp_path / "cache",
        mirrors=[],
        lock_path=tmp_path / "deeplab-zoo.lock",
        timeout=2.0,
        retries=3,
        backoff=0.01,
        progress=False,
    )


def artifact(url: str, filename: str = TARBALL, **known: object) -> Artifact:
    """Model "tiny" for the default tarball; other files are models named after their stem."""
    member = None if filename.endswith(".tflite") else "frozen_inference_graph.pb"
    name = "tiny" if filename == TARBALL else filename.split(".")[0]
    return Artifact(name=name, filename=filename, url=url, member=member, **known)  # type: ignore[arg-type]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entries(settings: FetchSettings) -> list[str]:
    """Published cache entries; also asserts no staging debris is left behind."""
    root = Path(settings.cache_dir)
    if not root.exists():
        return []
    assert tree(root / ".tmp") == [] if (root / ".tmp").exists() else True
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def lock_pins(settings: FetchSettings) -> dict[str, dict[str, object]]:
    assert settings.lock_path is not None
    return json.loads(settings.lock_path.read_text())["models"]  # type: ignore[no-any-return]


# --- the happy path ------------------------------------------------------------------------


def test_first_fetch_downloads_extracts_and_pins(zoo: ZooServer, settings: FetchSettings) -> None:
    data = zoo_tarball(TOP)
    url = zoo.add(TARBALL, data)

    got = fetch(artifact(url), settings)

    assert got.path.name == "frozen_inference_graph.pb"
    assert got.path.read_bytes() == GRAPH
    assert (got.sha256, got.size, got.file_sha256) == (sha256(data), len(data), sha256(GRAPH))
    assert got.source == url
    assert lock_pins(settings) == {
        "tiny": {"archive": TARBALL, "sha256": sha256(data), "size": len(data), "source": url}
    }
    assert entries(settings) == ["tiny"]


def test_second_fetch_is_a_cache_hit_without_network(
    zoo: ZooServer, settings: FetchSettings
) -> None:
    url = zoo.add(TARBALL, zoo_tarball(TOP))
    first = fetch(artifact(url), settings)

    again = fetch(artifact(url), settings)

    assert zoo.hits[TARBALL] == 1
    assert again.source == "cache" and again.origin == url
    assert again.path == first.path == cached(artifact(url), settings)


def test_plain_tflite_file_is_cached_as_is(zoo: ZooServer, settings: FetchSettings) -> None:
    url = zoo.add("deeplabv3_257_mv_gpu.tflite", b"TFL3" * 500)

    got = fetch(artifact(url, "deeplabv3_257_mv_gpu.tflite"), settings)

    assert got.path.name == "deeplabv3_257_mv_gpu.tflite"
    assert got.path.read_bytes() == b"TFL3" * 500
    assert got.file_sha256 == got.sha256


def test_known_checksums_are_verified(zoo: ZooServer, settings: FetchSettings) -> None:
    data = zoo_tarball(TOP)
    url = zoo.add(TARBALL, data)
    sha384 = hashlib.sha384(data).hexdigest()

    got = fetch(artifact(url, sha384=sha384, size=len(data)), settings)

    assert got.sha256 == sha256(data)


def test_wrong_known_checksum_is_an_integrity_error(
    zoo: ZooServer, settings: FetchSettings
) -> None:
    data = zoo_tarball(TOP)
    url = zoo.add(TARBALL, data)

    with pytest.raises(IntegrityError) as err:
        fetch(artifact(url, sha256="0" * 64), settings)

    message = str(err.value)
    assert "0" * 64 in message and sha256(data) in message and url in message
    assert entries(settings) == []
    assert not settings.lock_path.exists()  # type: ignore[union-attr]


def test_wrong_known_sha384_is_an_integrity_error(zoo: ZooServer, settings: FetchSettings) -> None:
    data = zoo_tarball(TOP)
    url = zoo.add(TARBALL, data)
    wrong = hashlib.sha384(data + b"!").hexdigest()

    with pytest.raises(IntegrityError) as err:
        fetch(artifact(url, sha384=wrong, size=len(data)), settings)

    message = str(err.value)
    assert f"does not match the known sha384 {wrong}" in message
    assert hashlib.sha384(data).hexdigest() in message
    assert entries(settings) == []


def test_wrong_known_size_is_an_integrity_error(zoo: ZooServer, settings: FetchSettings) -> None:
    data = zoo_tarball(TOP)
    url = zoo.add(TARBALL, data)

    with pytest.raises(IntegrityError) as err:
        fetch(artifact(url, size=len(data) - 1), settings)

    assert f"more than the known size of {len(data) - 1} bytes" in str(err.value)
    assert entries(settings) == []


def test_wrong_known_size_from_a_local_mirror_is_an_integrity_error(
    tmp_path: Path, settings: FetchSettings
) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    data = zoo_tarball(TOP)
    (mirror / TARBALL).write_bytes(data)
    settings.mirrors = [str(mirror)]

    with pytest.raises(IntegrityError) as err:
        fetch(artifact("http://127.0.0.1:9/none/" + TARBALL, size=len(data) - 10), settings)

    assert f"more than the known size of {len(data) - 10} bytes" in str(err.value)
    assert entries(settings) == []


# --- faults that heal with a retry -----------------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "truncate", "reset"])
def test_transient_fault_is_retried(zoo: ZooServer, settings: FetchSettings, fault: str) -> None:
    url = zoo.add(TARBALL, zoo_tarball(TOP), fault)

    got = fetch(artifact(url), settings)

    assert zoo.hits[TARBALL] == 2
    assert got.path.read_bytes() == GRAPH
    assert entries(settings) == ["tiny"]


def test_persistent_500_gives_up_after_the_retries(zoo: ZooServer, settings: FetchSettings) -> None:
    url = zoo.add(TARBALL, zoo_tarball(TOP), "500", "500", "500")

    with pytest.raises(FetchError) as err:
        fetch(artifact(url), settings)

    assert zoo.hits[TARBALL] == 3
    assert "gave up after 3 tries" in str(err.value) and "HTTP 500" in str(err.value)
    assert entries(settings) == []


def test_stalled_server_times_out(zoo: ZooServer, settings: FetchSettings) -> None:
    settings.timeout, settings.retries = 0.3, 2
    url = zoo.add(TARBALL, zoo_tarball(TOP), "stall", "stall")

    started = time.monotonic()
    with pytest.raises(FetchError, match=r"(?i)timed out"):
        fetch(artifact(url), settings)

    assert time.monotonic() - started < 2.5
    assert entries(settings) == []


# --- faults that do not heal -----------------------------------------------------------------


def test_404_names_every_source_and_every_remedy(zoo: ZooServer, settings: FetchSettings) -> None:
    settings.mirrors = [zoo.base_url.replace("/models", "/mirror")]
    url = zoo.url(TARBALL)

    with pytest.raises(FetchError) as err:
        fetch(artifact(url), settings)

    message = str(err.value)
    assert "'tiny'" in message and "not cached" in message
    assert f"{settings.mirrors[0]}/{TARBALL}: HTTP 404" in message
    assert f"{url}: HTTP 404" in message
    for remedy in (
        "--deeplab-mirror",
        "--deeplab-cache-dir",
        "pytest-deeplab fetch tiny",
        "--deeplab-allow-missing",
    ):
        assert remedy in message
    assert zoo.hits[TARBALL] == 1  # a 404 is not retried


def test_an_html_page_instead_of_a_tarball(zoo: ZooServer, settings: FetchSettings) -> None:
    url = zoo.add(TARBALL, b"<html>proxy login</html>")

    with pytest.raises(FetchError, match="not a readable tar archive"):
        fetch(artifact(url), settings)
    assert entries(settings) == []


def test_archive_without_the_member(zoo: ZooServer, settings: FetchSettings) -> None:
    url = zoo.add(TARBALL, zoo_tarball(TOP, {"model.ckpt.index": b"x"}))

    with pytest.raises(FetchError, match=r"has no 'frozen_inference_graph\.pb'"):
        fetch(artifact(url), settings)


@pytest.mark.parametrize(
    "kind", ["traversal", "absolute", "symlink", "symlink_absolute", "hardlink", "device", "fifo"]
)
def test_malicious_tarball_is_rejected_and_cache_stays_intact(
    zoo: ZooServer, settings: FetchSettings, tmp_path: Path, kind: str
) -> None:
    good = fetch(artifact(zoo.add("good.tar.gz", zoo_tarball("good")), "good.tar.gz"), settings)
    url = zoo.add(TARBALL, malicious_tarball(kind))

    with pytest.raises(UnsafeArchiveError, match="unsafe archive"):
        fetch(artifact(url), settings)

    assert entries(settings) == ["good"]
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not Path("/tmp/pytest-deeplab-absolute.txt").exists()
    assert fetch(artifact(good.origin, "good.tar.gz"), settings).source == "cache"


@pytest.mark.parametrize("fault", ["truncate", "reset", "500", "404"])
def test_failures_leave_cached_models_usable(
    zoo: ZooServer, settings: FetchSettings, fault: str
) -> None:
    good = fetch(artifact(zoo.add("good.tar.gz", zoo_tarball("good")), "good.tar.gz"), settings)
    before = tree(Path(settings.cache_dir) / "good")
    url = zoo.add(TARBALL, zoo_tarball(TOP), *[fault] * 3)

    with pytest.raises(FetchError):
        fetch(artifact(url), settings)

    assert entries(settings) == ["good"]
    assert tree(Path(settings.cache_dir) / "good") == before
    assert fetch(artifact(good.origin, "good.tar.gz"), settings).path.read_bytes() == GRAPH


def test_interrupted_download_leaves_nothing_half_made(
    zoo: ZooServer, settings: FetchSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(url: str, dest: Path, **kwargs: object) -> None:
        dest.write_bytes(b"half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(download_module, "download_url", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch(artifact(zoo.add(TARBALL, zoo_tarball(TOP))), settings)

    assert entries(settings) == []
    assert tree(Path(settings.cache_dir) / ".tmp") == []


def test_staging_left_by_a_killed_process_is_swept(zoo: ZooServer, settings: FetchSettings) -> None:
    debris = Path(settings.cache_dir) / ".tmp" / "tiny-killed" / "download"
    debris.parent.mkdir(parents=True)
    debris.write_bytes(b"partial")

    fetch(artifact(zoo.add(TARBALL, zoo_tarball(TOP))), settings)

    assert tree(Path(settings.cache_dir) / ".tmp") == []


# --- mirrors and offline mode ----------------------------------------------------------------


def test_local_directory_mirror(settings: FetchSettings, tmp_path: Path) -> None:
    mirror = tmp_path / "zoo-mirror"
    mirror.mkdir()
    (mirror / TARBALL).write_bytes(zoo_tarball(TOP))
    settings.mirrors = [str(mirror)]
    settings.offline = True  # a local directory is not the network

    got = fetch(artifact("http://127.0.0.1:9/models/" + TARBALL), settings)

    assert got.source == str(mirror)
    assert got.path.read_bytes() == GRAPH


def test_file_url_mirror_with_the_tflite_subfolder(settings: FetchSettings, tmp_path: Path) -> None:
    (tmp_path / "m" / "tflite" / "gpu").mkdir(parents=True)
    (tmp_path / "m" / "tflite" / "gpu" / "deeplabv3_257_mv_gpu.tflite").write_bytes(b"TFL3")
    settings.mirrors = [(tmp_path / "m").as_uri()]
    url = "https://storage.googleapis.com/download.tensorflow.org/models/tflite/gpu/deeplabv3_257_mv_gpu.tflite"

    got = fetch(artifact(url, "deeplabv3_257_mv_gpu.tflite"), settings)

    assert got.path.read_bytes() == b"TFL3"


def test_mirrors_are_tried_in_order_before_the_default_url(
    zoo: ZooServer, settings: FetchSettings
) -> None:
    data = zoo_tarball(TOP)
    zoo.files[f"second/{TARBALL}"] = data
    zoo.files[TARBALL] = data
    first, second = zoo.url("first"), zoo.url("second")
    settings.mirrors = [first, second]

    got = fetch(artifact(zoo.url(TARBALL)), settings)

    assert got.source == second
    assert zoo.hits[f"first/{TARBALL}"] == 1 and zoo.hits[TARBALL] == 0


def test_a_tampered_mirror_falls_through_to_the_next_source(
    zoo: ZooServer, settings: FetchSettings
) -> None:
    data = zoo_tarball(TOP)
    zoo.files[f"bad/{TARBALL}"] = zoo_tarball(TOP, {"frozen_inference_graph.pb": b"tampered"})
    url = zoo.add(TARBALL, data)
    settings.mirrors = [zoo.url("bad")]

    got = fetch(artifact(url, sha256=sha256(data)), settings)

    assert got.source == url and got.path.read_bytes() == GRAPH


def test_offline_without_cache_never_touches_the_network(
    zoo: ZooServer, settings: FetchSettings
) -> None:
    url = zoo.add(TARBALL, zoo_tarball(TOP))
    settings.mirrors, settings.offline = [zoo.url("mirror")], True

    with pytest.raises(FetchError, match=r"skipped: offline \(--deeplab-offline\)"):
        fetch(artifact(url), settings)

    assert sum(zoo.hits.values()) == 0


def test_offline_with_cache(zoo: ZooServer, settings: FetchSettings) -> None:
    url = zoo.add(TARBALL, zoo_tarball(TOP))
    fetch(artifact(url), settings)
    settings.offline = True

    assert fetch(artifact(url), settings).source == "cache"
    assert zoo.hits[TARBALL] == 1


# --- the lock file -------------------------------------------------------------------------


def test_changed_upstream_file_fails_loudly_until_accepted(
    zoo: ZooServer, settings: FetchSettings, tmp_path: Path
) -> None:
    old, new = zoo_tarball(TOP), zoo_tarball(TOP, {"frozen_inference_graph.pb": b"retrained"})
    url = zoo.add(TARBALL, old)
    fetch(artifact(url), settings)
    zoo.files[TARBALL] = new
    settings.cache_dir = tmp_path / "fresh-ci-cache"

    with pytest.raises(IntegrityError) as err:
        fetch(artifact(url), settings)
    message = str(err.value)
    assert sha256(old) in message and sha256(new) in message
    assert str(settings.lock_path) in message and "--deeplab-update-lock" in message
    assert entries(settings) == []

    settings.update_lock = True
    got = fetch(artifact(url), settings)
    assert got.path.read_bytes() == b"retrained"
    assert lock_pins(settings)["tiny"]["sha256"] == sha256(new)


def test_cached_copy_that_contradicts_the_lock_is_refused(
    zoo: ZooServer, settings: FetchSettings
) -> None:
    url = zoo.add(TARBALL, zoo_tarball(TOP))
    fetch(artifact(url), settings)
    assert settings.lock_path is not None
    settings.lock_path.write_text(
        settings.lock_path.read_text().replace('"sha256": "', '"sha256": "f')
    )

    with pytest.raises(IntegrityError, match=r"cached copy .* --deeplab-update-lock"):
        fetch(artifact(url), settings)


def test_lock_file_is_sorted_and_stable(zoo: ZooServer, settings: FetchSettings) -> None:
    for name in ("zeta.tar.gz", "alpha.tar.gz"):
        fetch(artifact(zoo.add(name, zoo_tarball(name[:-7])), name), settings)
    assert settings.lock_path is not None
    text = settings.lock_path.read_text()
    fetch(artifact(zoo.url("alpha.tar.gz"), "alpha.tar.gz"), settings)

    assert list(lock_pins(settings)) == ["alpha", "zeta"]
    assert settings.lock_path.read_text() == text and text.endswith("}\n")


# --- the verified stamp --------------------------------------------------------------------


def test_cache_hit_trusts_the_stamp_and_rehashes_only_a_touched_file(
    zoo: ZooServer, settings: FetchSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = zoo.add(TARBALL, zoo_tarball(TOP))
    path = fetch(artifact(url), settings).path
    hashed: list[Path] = []
    real_hash = cache_module.sha256_file

    def counting_hash(p: Path) -> str:
        hashed.append(p)
        return real_hash(p)

    monkeypatch.setattr(cache_module, "sha256_file", counting_hash)

    fetch(artifact(url), settings)
    assert hashed == []

    os.utime(path, ns=(1, 1))
    assert cached(artifact(url), settings) is None  # cheap check says "changed"
    assert fetch(artifact(url), settings).source == "cache"  # re-hashed, same bytes
    assert hashed == [path]
    assert fetch(artifact(url), settings).source == "cache" and len(hashed) == 1


def test_a_corrupted_cached_file_is_fetched_again(zoo: ZooServer, settings: FetchSettings) -> None:
    url = zoo.add(TARBALL, zoo_tarball(TOP))
    path = fetch(artifact(url), settings).path
    path.write_bytes(b"x" * len(GRAPH))  # same size, new mtime, other bytes

    got = fetch(artifact(url), settings)

    assert got.source == url and got.path.read_bytes() == GRAPH
    assert zoo.hits[TARBALL] == 2


# --- concurrency -----------------------------------------------------------------------------


def test_two_processes_download_once(zoo: ZooServer, settings: FetchSettings) -> None:
    url = zoo.add(TARBALL, zoo_tarball(TOP), "slow")  # the first download takes 0.5 s
    job = (artifact(url), settings)

    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.map(fetch_in_subprocess, [job, job])

    assert zoo.hits[TARBALL] == 1
    assert len({path for path, _ in results}) == 1
    assert sorted(source for _, source in results) == ["cache", url]


# --- configuration ---------------------------------------------------------------------------


def test_default_cache_dir_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PYTEST_DEEPLAB_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("PYTEST_DEEPLAB_CACHE")
    assert "pytest-deeplab" in str(default_cache_dir())


def test_progress_bar_only_on_a_terminal(
    zoo: ZooServer,
    settings: FetchSettings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    big = zoo_tarball(TOP, {"frozen_inference_graph.pb": os.urandom(2 << 20)})
    fetch(artifact(zoo.add("quiet.tar.gz", big), "quiet.tar.gz"), settings)
    assert capsys.readouterr().err == ""

    settings.progress = True
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    fetch(artifact(zoo.add(TARBALL, big)), settings)
    assert "100%" in capsys.readouterr().err


def test_fetch_many_collects_every_failure(zoo: ZooServer, settings: FetchSettings) -> None:
    good = artifact(zoo.add(TARBALL, zoo_tarball(TOP)))
    missing = Artifact("gone", "gone.tar.gz", zoo.url("gone.tar.gz"), "frozen_inference_graph.pb")

    fetched, failed = fetch_many([good, missing, missing], settings)

    assert list(fetched) == ["tiny"]
    assert [e.model for e in failed] == ["gone", "gone"]


REAL_ZOO = Path(__file__).resolve().parents[2] / "shared" / "real-zoo" / "models"


@pytest.mark.skipif(not REAL_ZOO.is_dir(), reason="../shared/real-zoo is not present")
def test_real_tflite_through_a_local_mirror(settings: FetchSettings) -> None:
    settings.mirrors, settings.offline = [str(REAL_ZOO)], True
    tflite = Artifact(
        name="deeplabv3_257_mv_gpu",
        filename="deeplabv3_257_mv_gpu.tflite",
        url="https://storage.googleapis.com/download.tensorflow.org/models/tflite/gpu/deeplabv3_257_mv_gpu.tflite",
        member=None,
        sha256="68a539782c2c6a72f8aac3724600124a85ed977162b44e84cbae5db717c933c6",
    )

    got = fetch(tflite, settings)

    assert got.source == str(REAL_ZOO)
    assert got.path.read_bytes()[4:8] == b"TFL3"


def test_a_local_user_archive_without_url(settings: FetchSettings, tmp_path: Path) -> None:
    (tmp_path / "my-model.tar.gz").write_bytes(zoo_tarball("my-model"))
    settings.mirrors = [str(tmp_path)]
    mine = Artifact("my-mnv2", "my-model.tar.gz", "", "frozen_inference_graph.pb")

    assert fetch(mine, settings).path.read_bytes() == GRAPH
    (tmp_path / "my-model.tar.gz").unlink()
    assert fetch(mine, settings).source == "cache"


def test_unknown_url_scheme_is_a_plain_miss(settings: FetchSettings) -> None:
    with pytest.raises(FetchError, match="gopher://"):
        fetch(artifact("gopher://example.org/models/" + TARBALL), settings)


def test_models_sharing_an_archive_name_do_not_mix(settings: FetchSettings, tmp_path: Path) -> None:
    for who in ("alice", "bob"):
        (tmp_path / who).mkdir()
        graph = {"frozen_inference_graph.pb": who.encode()}
        (tmp_path / who / "model.tar.gz").write_bytes(zoo_tarball("model", graph))
    settings.mirrors = [str(tmp_path / "alice")]
    alice = fetch(Artifact("alice/v1", "model.tar.gz", "", "frozen_inference_graph.pb"), settings)
    settings.mirrors = [str(tmp_path / "bob")]
    bob = fetch(Artifact("bob", "model.tar.gz", "", "frozen_inference_graph.pb"), settings)

    assert (alice.path.read_bytes(), bob.path.read_bytes()) == (b"alice", b"bob")
    assert entries(settings) == ["alice_v1", "bob"]
    assert list(lock_pins(settings)) == ["alice/v1", "bob"]
