"""Mirrors and first use: the lock records where each pin came from, a checksum-less model pinned
from a mirror is reported, and require-pins refuses models that would be trusted on first use.

Fetches go through real local-folder mirrors and the loopback HTTP zoo (tests/zoo_server.py);
expected checksums are computed here from the bytes each test wrote, never by the code under test.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_catalogue_zoo import cli
from zoo_server import ZooServer, zoo_tarball

from pytest_deeplab.catalogue.official import OFFICIAL_MODELS
from pytest_deeplab.catalogue.specs import ModelSpec
from pytest_deeplab.fetching.fetch import Artifact, FetchSettings, fetch
from pytest_deeplab.fetching.lockfile import LockFileError, read_pins
from pytest_deeplab.fetching.trust import UnpinnedModelsError, check_pins, unpinned
from pytest_deeplab.options import OptionsError, ini_bool

TARBALL = "deeplabv3_tiny_pascal_2018_01_29.tar.gz"
# An official zoo model with no published checksum, and its archive on download.tensorflow.org.
OFFICIAL = "mobilenetv2_coco_voc_trainval"
OFFICIAL_TARBALL = "deeplabv3_mnv2_pascal_trainval_2018_01_29.tar.gz"
OFFICIAL_URL = f"http://download.tensorflow.org/models/{OFFICIAL_TARBALL}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def zoo() -> Iterator[ZooServer]:
    with ZooServer(request_timeout=5, stall_seconds=3) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path) -> FetchSettings:
    return FetchSettings(cache_dir=tmp_path / "cache", lock_path=tmp_path / "deeplab-zoo.lock",
                         timeout=2.0, retries=1, backoff=0.01, progress=False)


def tiny(url: str) -> Artifact:
    return Artifact(name="tiny", filename=TARBALL, url=url, member="frozen_inference_graph.pb")


def lock_models(path: Path) -> dict[str, dict[str, object]]:
    return json.loads(path.read_text())["models"]  # type: ignore[no-any-return]


def mirror_with(tmp_path: Path, name: str, data: bytes, folder: str = "mirror") -> Path:
    mirror = tmp_path / folder
    mirror.mkdir(exist_ok=True)
    (mirror / name).write_bytes(data)
    return mirror


# -- the lock's source field ------------------------------------------------------------------


def test_a_pin_from_a_folder_mirror_names_the_file_on_it(
    settings: FetchSettings, tmp_path: Path
) -> None:
    data = zoo_tarball("tiny")
    mirror = mirror_with(tmp_path, TARBALL, data)
    settings.mirrors = [str(mirror)]

    got = fetch(tiny("http://download.invalid/models/" + TARBALL), settings)

    assert (got.source, got.pinned) == (str(mirror), "new")
    assert settings.lock_path is not None
    assert lock_models(settings.lock_path) == {"tiny": {
        "archive": TARBALL, "sha256": sha256(data), "size": len(data),
        "source": str(mirror / TARBALL)}}


def test_a_pin_from_a_url_mirror_names_the_url(zoo: ZooServer, settings: FetchSettings) -> None:
    data = zoo_tarball("tiny")
    zoo.add(TARBALL, data)
    settings.mirrors = [zoo.base_url]

    fetch(tiny("http://download.invalid/models/" + TARBALL), settings)

    assert settings.lock_path is not None
    assert lock_models(settings.lock_path)["tiny"]["source"] == f"{zoo.base_url}/{TARBALL}"


def test_the_same_bytes_from_another_source_keep_the_first_source(
    zoo: ZooServer, settings: FetchSettings, tmp_path: Path
) -> None:
    """No churn between machines with different mirrors: a pin changes only with its bytes."""
    data = zoo_tarball("tiny")
    url = zoo.add(TARBALL, data)
    fetch(tiny(url), settings)
    assert settings.lock_path is not None
    before = settings.lock_path.read_text()
    settings.cache_dir = tmp_path / "another-machine"
    settings.mirrors = [str(mirror_with(tmp_path, TARBALL, data))]

    got = fetch(tiny(url), settings)

    assert got.source == settings.mirrors[0] and got.pinned == ""
    assert settings.lock_path.read_text() == before
    assert lock_models(settings.lock_path)["tiny"]["source"] == url


def test_a_cached_copy_pinned_later_records_where_it_was_downloaded_from(
    settings: FetchSettings, tmp_path: Path
) -> None:
    data = zoo_tarball("tiny")
    mirror = mirror_with(tmp_path, TARBALL, data)
    settings.mirrors, lock = [str(mirror)], settings.lock_path
    settings.lock_path = None
    fetch(tiny("http://download.invalid/models/" + TARBALL), settings)  # cache warmed, no lock
    settings.lock_path, settings.mirrors = lock, []

    got = fetch(tiny("http://download.invalid/models/" + TARBALL), settings)

    assert (got.source, got.pinned) == ("cache", "new")
    assert lock is not None
    assert lock_models(lock)["tiny"]["source"] == str(mirror / TARBALL)


OLD_LOCK = """{
  "comment": "Written by pytest-deeplab: size and sha256 of every model archive fetched.",
  "models": {
    "tiny": {
      "archive": "%s",
      "sha256": "%s",
      "size": %d
    }
  },
  "version": 1
}
"""


def test_an_old_lock_without_sources_is_read_and_left_as_it_is(
    zoo: ZooServer, settings: FetchSettings
) -> None:
    data = zoo_tarball("tiny")
    url = zoo.add(TARBALL, data)
    assert settings.lock_path is not None
    old = OLD_LOCK % (TARBALL, sha256(data), len(data))
    settings.lock_path.write_text(old)

    assert read_pins(settings.lock_path)["tiny"].source is None
    got = fetch(tiny(url), settings)

    assert got.pinned == ""
    assert settings.lock_path.read_text() == old


def test_an_old_pin_replaced_deliberately_gains_its_source(
    zoo: ZooServer, settings: FetchSettings
) -> None:
    data = zoo_tarball("tiny")
    url = zoo.add(TARBALL, data)
    assert settings.lock_path is not None
    settings.lock_path.write_text(OLD_LOCK % (TARBALL, "0" * 64, 1))
    settings.update_lock = True

    assert fetch(tiny(url), settings).pinned == "updated"
    assert lock_models(settings.lock_path)["tiny"] == {
        "archive": TARBALL, "sha256": sha256(data), "size": len(data), "source": url}


def test_a_lock_of_another_format_version_is_refused_by_name(tmp_path: Path) -> None:
    lock = tmp_path / "deeplab-zoo.lock"
    lock.write_text('{"models": {}, "version": 2}\n')
    with pytest.raises(LockFileError, match=r"lock format version 2; this pytest-deeplab reads "
                                             r"version 1 \(a newer pytest-deeplab wrote it"):
        read_pins(lock)


# -- which models need a pin ------------------------------------------------------------------


def official(name: str = OFFICIAL) -> ModelSpec:
    return next(m for m in OFFICIAL_MODELS if m.name == name)


def write_lock(path: Path, pins: dict[str, tuple[str, str, int]]) -> None:
    models = {name: {"archive": a, "sha256": s, "size": n} for name, (a, s, n) in pins.items()}
    path.write_text(json.dumps({"models": models, "version": 1}))


def test_only_fetched_models_without_a_checksum_or_a_pin_are_unpinned(tmp_path: Path) -> None:
    lock = tmp_path / "deeplab-zoo.lock"
    write_lock(lock, {"mobilenetv2_coco_voc_trainaug_8bit": (
        "deeplabv3_mnv2_pascal_train_aug_8bit_2019_04_26.tar.gz", "a" * 64, 10),
        "xception65_coco_voc_trainaug": ("an_older_archive.tar.gz", "b" * 64, 10)})
    local = tmp_path / "mine.pb"
    models = [
        official(),  # no checksum, no pin
        official("mobilenetv2_coco_voc_trainaug"),  # sha384 published in the catalogue
        official("deeplabv3_257_mv_gpu"),  # sha256 published
        official("mobilenetv2_coco_voc_trainaug_8bit"),  # pinned
        official("xception65_coco_voc_trainaug"),  # pinned, but for another archive
        ModelSpec("mine", "frozen_graph", "pascal", 513, "user", path=local),  # used where it is
        ModelSpec("mine_tgz", "frozen_graph", "pascal", 513, "user",
                  path=tmp_path / "mine.tar.gz", member="*.pb"),  # an archive: extracted, pinned
        ModelSpec("hosted", "frozen_graph", "pascal", 513, "user",
                  url="https://models.example/hosted.pb", sha256="c" * 64),
        ModelSpec("bundledish", "frozen_graph", "pascal", 513, "bundled",
                  path=tmp_path / "b.tar.gz"),
    ]

    found = unpinned(models, lock)

    assert found == {
        OFFICIAL: f"{OFFICIAL_TARBALL}: no published checksum, not in the lock",
        "xception65_coco_voc_trainaug": "deeplabv3_pascal_train_aug_2018_01_04.tar.gz: no "
        "published checksum; the lock pins another archive (an_older_archive.tar.gz)",
        "mine_tgz": "mine.tar.gz: no published checksum, not in the lock",
    }


def test_the_refusal_lists_every_model_and_the_fix(tmp_path: Path) -> None:
    lock = tmp_path / "deeplab-zoo.lock"
    with pytest.raises(UnpinnedModelsError) as err:
        check_pins([official(), official("xception65_ade20k_train")], lock)
    message = str(err.value)
    assert message.startswith(
        f"--deeplab-require-pins: 2 selected model(s) would be trusted on first use, having "
        f"neither a published checksum nor a pin in {lock}:\n"
        f"  - {OFFICIAL}: {OFFICIAL_TARBALL}: no published checksum, not in the lock\n"
        "  - xception65_ade20k_train: deeplabv3_xception_ade20k_train_2018_05_29.tar.gz: no ")
    assert (f"`pytest-deeplab fetch {OFFICIAL} xception65_ade20k_train --no-require-pins`"
            in message)
    assert "commit deeplab-zoo.lock" in message and "sha256 in its [tool.pytest-deeplab" in message


def test_a_broken_lock_counts_as_no_pins_and_says_why(tmp_path: Path) -> None:
    lock = tmp_path / "deeplab-zoo.lock"
    lock.write_text("<<<<<<< HEAD\n")
    found = unpinned([official()], lock)
    assert found[OFFICIAL].startswith(f"{lock} is not a valid pytest-deeplab lock file")


@pytest.mark.parametrize(("word", "expected"), [("true", True), ("True", True), ("1", True),
                                                ("on", True), ("false", False), ("0", False),
                                                ("no", False), ("", False)])
def test_the_ini_key_reads_as_pytest_reads_bools(word: str, expected: bool) -> None:
    assert ini_bool({"deeplab_require_pins": word}, "deeplab_require_pins") is expected
    assert ini_bool({}, "deeplab_require_pins") is False


def test_an_ini_value_that_is_no_bool_is_an_error() -> None:
    with pytest.raises(OptionsError, match="deeplab_require_pins = 'treu' is not a bool"):
        ini_bool({"deeplab_require_pins": "treu"}, "deeplab_require_pins")


# -- `pytest-deeplab fetch` writes the lock ---------------------------------------------------


def official_mirror(tmp_path: Path) -> tuple[Path, bytes]:
    data = zoo_tarball(OFFICIAL_TARBALL[:-7])
    return mirror_with(tmp_path, OFFICIAL_TARBALL, data, "zoo-mirror"), data


def fetch_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cli("fetch", OFFICIAL, "--offline", f"--cache-dir={tmp_path / 'cache'}", *args,
               cwd=tmp_path)


def test_fetch_pins_a_mirror_copy_and_says_what_to_check(tmp_path: Path) -> None:
    mirror, data = official_mirror(tmp_path)
    lock = tmp_path / "deeplab-zoo.lock"

    result = fetch_cli(tmp_path, f"--mirror={mirror}")

    assert result.returncode == 0, result.stderr
    assert lock_models(lock) == {OFFICIAL: {
        "archive": OFFICIAL_TARBALL, "sha256": sha256(data), "size": len(data),
        "source": str(mirror / OFFICIAL_TARBALL)}}
    assert (f"pinned {OFFICIAL}: sha256 {sha256(data)} ({len(data)} bytes) from "
            f"{mirror / OFFICIAL_TARBALL} in {lock}") in result.stdout
    assert (f"CHECK  {OFFICIAL} has no published checksum and was pinned from mirror {mirror}: "
            f"deeplab-zoo.lock now trusts sha256 {sha256(data)} on that mirror's word alone. "
            f"Compare it with the sha256 of a trusted copy (e.g. `sha256sum` of {OFFICIAL_URL}), "
            "then commit deeplab-zoo.lock.") in result.stderr

    again = fetch_cli(tmp_path, f"--mirror={mirror}")  # pinned already: nothing more to check
    assert again.returncode == 0, again.stderr
    assert "pinned" not in again.stdout and "CHECK" not in again.stderr


def test_fetch_require_pins_refuses_before_fetching_then_passes_once_pinned(
    tmp_path: Path,
) -> None:
    mirror, data = official_mirror(tmp_path)

    refused = fetch_cli(tmp_path, f"--mirror={mirror}", "--require-pins")

    assert refused.returncode == 2
    assert refused.stderr.startswith(
        "pytest-deeplab: --require-pins: 1 selected model(s) would be trusted on first use")
    assert f"  - {OFFICIAL}: {OFFICIAL_TARBALL}: no published checksum" in refused.stderr
    assert not (tmp_path / "cache").exists() and not (tmp_path / "deeplab-zoo.lock").exists()

    write_lock(tmp_path / "deeplab-zoo.lock", {OFFICIAL: (OFFICIAL_TARBALL, sha256(data),
                                                          len(data))})
    allowed = fetch_cli(tmp_path, f"--mirror={mirror}", "--require-pins")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.startswith(f"ok     {OFFICIAL}: ")


def test_fetch_honours_the_ini_key_and_no_require_pins_overrides_it(tmp_path: Path) -> None:
    mirror, _ = official_mirror(tmp_path)
    (tmp_path / "pytest.ini").write_text("[pytest]\ndeeplab_require_pins = true\n")

    refused = fetch_cli(tmp_path, f"--mirror={mirror}")
    assert refused.returncode == 2 and "--require-pins: 1 selected model" in refused.stderr

    pinned = fetch_cli(tmp_path, f"--mirror={mirror}", "--no-require-pins")
    assert pinned.returncode == 0, pinned.stderr
    assert OFFICIAL in lock_models(tmp_path / "deeplab-zoo.lock")
    assert fetch_cli(tmp_path, f"--mirror={mirror}").returncode == 0


def test_every_fetch_refuses_an_unpinned_model_under_require_pins(tmp_path: Path) -> None:
    """What the gate's workers, inspect and explain reach: no path to a first-use fetch."""
    from pytest_deeplab.fetching.model_files import ModelFiles
    from pytest_deeplab.options import build_options

    mirror, data = official_mirror(tmp_path)
    options = build_options(tmp_path, OFFICIAL, cache_dir=tmp_path / "cache", mirrors=[str(mirror)],
                            offline=True, require_pins=True)
    with pytest.raises(UnpinnedModelsError, match=f"  - {OFFICIAL}: {OFFICIAL_TARBALL}"):
        ModelFiles(options).path(official())
    assert not (tmp_path / "cache").exists()

    write_lock(tmp_path / "deeplab-zoo.lock", {OFFICIAL: (OFFICIAL_TARBALL, sha256(data),
                                                          len(data))})
    assert ModelFiles(options).path(official()).name == "frozen_inference_graph.pb"


def test_build_options_reads_the_ini_key_unless_told(tmp_path: Path) -> None:
    from pytest_deeplab.options import build_options

    assert build_options(tmp_path, None).require_pins is False
    (tmp_path / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\ndeeplab_require_pins = true\n")
    assert build_options(tmp_path, None).require_pins is True
    assert build_options(tmp_path, None, require_pins=False).require_pins is False


def test_a_cached_copy_is_traced_back_to_the_mirror_that_served_it(tmp_path: Path) -> None:
    from pytest_deeplab.fetching.trust import mirror_of

    folder = tmp_path / "zoo"
    mirrors = ["https://mirror.example/models/", str(folder)]
    assert mirror_of(str(folder / "sub" / TARBALL), mirrors) == str(folder)
    assert mirror_of(f"https://mirror.example/models/{TARBALL}", mirrors) == mirrors[0]
    assert mirror_of(f"https://mirror.example/modelsX/{TARBALL}", mirrors) == (
        f"https://mirror.example/modelsX/{TARBALL}")  # no configured mirror holds it now


def test_the_gate_refuses_unpinned_models_before_starting_its_workers(tmp_path: Path) -> None:
    import sys

    mirror, _ = official_mirror(tmp_path)
    result = cli("gate", "--baseline", sys.executable, "--candidate", sys.executable,
                 "--models", OFFICIAL, f"--mirror={mirror}", "--offline", "--require-pins",
                 f"--cache-dir={tmp_path / 'cache'}", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.startswith("pytest-deeplab gate: --require-pins: 1 selected model(s) "
                                    "would be trusted on first use")
    assert f"  - {OFFICIAL}: {OFFICIAL_TARBALL}: no published checksum" in result.stderr
    assert "gate: importing TensorFlow" not in result.stderr  # no worker got that far


def test_inspect_refuses_to_fetch_an_unpinned_model_under_require_pins(tmp_path: Path) -> None:
    mirror, _ = official_mirror(tmp_path)
    result = cli("inspect", OFFICIAL, f"--mirror={mirror}", "--offline", "--require-pins",
                 f"--cache-dir={tmp_path / 'cache'}", cwd=tmp_path)

    assert result.returncode == 1
    assert result.stderr.startswith(
        "pytest-deeplab inspect: --deeplab-require-pins / --require-pins: 1 selected model(s)")
    assert not (tmp_path / "cache").exists()
