"""The plugin's side of mirrors and first use, through `pytester`: the run's summary names a
checksum-less official model pinned from a mirror, the lock records that mirror, and
`--deeplab-require-pins` (or the `deeplab_require_pins` ini key) fails closed before any item runs.

The "official" model is `mobilenetv2_coco_voc_trainval` (no published checksum); its archive on the
local-folder mirror holds the bundled mini graph (exported as the zoo's are), so it loads and
predicts offline. Each test has its own model cache: a first use must really be a first use.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import DeepLabPytester, SmallModel
from zoo_server import zoo_tarball

OFFICIAL = "mobilenetv2_coco_voc_trainval"
TARBALL = "deeplabv3_mnv2_pascal_trainval_2018_01_29.tar.gz"
URL = f"http://download.tensorflow.org/models/{TARBALL}"
ONE_MASK = "golden_00"  # -k: one mask item of the bundled golden scenes official models run on


def make_mirror(deeplab: DeepLabPytester, small_model: SmallModel) -> tuple[Path, bytes]:
    data = zoo_tarball(TARBALL[:-7], {"frozen_inference_graph.pb": small_model.graph.read_bytes()})
    mirror = deeplab.path / "zoo-mirror"
    mirror.mkdir()
    (mirror / TARBALL).write_bytes(data)
    return mirror, data


def run(deeplab: DeepLabPytester, mirror: Path, *args: str) -> pytest.RunResult:
    return deeplab.run(f"--deeplab-models={OFFICIAL}", f"--deeplab-mirror={mirror}",
                       "--deeplab-offline", f"--deeplab-cache-dir={deeplab.path / 'cache'}",
                       *args)


def write_pin(deeplab: DeepLabPytester, data: bytes) -> Path:
    lock = deeplab.path / "deeplab-zoo.lock"
    lock.write_text(json.dumps({"version": 1, "models": {OFFICIAL: {
        "archive": TARBALL, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}}}))
    return lock


@pytest.mark.needs_tf
def test_a_first_use_from_a_mirror_is_named_in_the_summary_and_the_lock(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    mirror, data = make_mirror(deeplab, small_model)
    digest = hashlib.sha256(data).hexdigest()

    result = run(deeplab, mirror, "--deeplab-update-golden", "-k", ONE_MASK,
                 "--benchmark-disable")

    result.assert_outcomes(passed=1)
    lock = deeplab.path / "deeplab-zoo.lock"
    assert json.loads(lock.read_text())["models"] == {OFFICIAL: {
        "archive": TARBALL, "sha256": digest, "size": len(data), "source": str(mirror / TARBALL)}}
    out = " ".join(line.strip() for line in result.outlines)  # the note is wrapped to 80 columns
    assert (f"trust on first use: {OFFICIAL} has no published checksum and was pinned from "
            f"mirror {mirror}: deeplab-zoo.lock now trusts sha256 {digest} on that mirror's word "
            f"alone. Compare it with the sha256 of a trusted copy (e.g. `sha256sum` of {URL}), "
            "then commit deeplab-zoo.lock.") in out

    again = run(deeplab, mirror, "-k", ONE_MASK, "--benchmark-disable")  # pinned: nothing to say
    again.assert_outcomes(passed=1)
    assert "trust on first use" not in again.stdout.str()


@pytest.mark.parametrize("how", ["option", "ini"])
def test_require_pins_fails_closed_listing_the_model_before_anything_runs(
    deeplab: DeepLabPytester, small_model: SmallModel, how: str
) -> None:
    mirror, _ = make_mirror(deeplab, small_model)
    if how == "ini":
        deeplab.configure(ini="deeplab_require_pins = true")

    result = run(deeplab, mirror, "--deeplab-allow-missing",  # never turned into a skip
                 *(["--deeplab-require-pins"] if how == "option" else []))

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "ERROR: --deeplab-require-pins: 1 selected model(s) would be trusted on first use, "
        "having neither a published checksum nor a pin in */deeplab-zoo.lock:",
        f"  - {OFFICIAL}: {TARBALL}: no published checksum, not in the lock",
        f"Pin them once from a source you trust: `pytest-deeplab fetch {OFFICIAL} "
        "--no-require-pins`*",
    ])
    assert not (deeplab.path / "cache").exists()  # refused before fetching anything
    assert not (deeplab.path / "deeplab-zoo.lock").exists()


def test_require_pins_passes_once_the_lock_pins_the_archive(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    mirror, data = make_mirror(deeplab, small_model)
    lock = write_pin(deeplab, data)
    before = lock.read_text()

    result = run(deeplab, mirror, "--deeplab-require-pins", "--collect-only", "-q")

    assert result.ret == pytest.ExitCode.OK, result.stderr.str()
    assert f"deeplab::{OFFICIAL}::miou" in result.stdout.str()
    assert lock.read_text() == before  # an old pin without a source is kept as it is


def test_require_pins_with_a_pin_for_other_bytes_is_an_integrity_error(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    mirror, _ = make_mirror(deeplab, small_model)
    write_pin(deeplab, b"the bytes a reviewer checked")

    result = run(deeplab, mirror, "--deeplab-require-pins", "--collect-only")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{mirror / TARBALL}: *deeplab-zoo.lock expects sha256 *"])


def test_require_pins_leaves_local_model_files_alone(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    """A file the team keeps (a `path`, not an archive) is not fetched, so not pinned."""
    deeplab.configure(models={"my-small": small_model.model()})

    result = deeplab.run("--deeplab-models=my-small", "--deeplab-require-pins", "--collect-only")

    assert result.ret == pytest.ExitCode.OK, result.stderr.str()
    assert not (deeplab.path / "deeplab-zoo.lock").exists()


@pytest.mark.needs_tf
def test_under_xdist_the_controller_summary_names_the_mirror_a_worker_pinned_from(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    pytest.importorskip("xdist")
    mirror, _ = make_mirror(deeplab, small_model)

    result = deeplab.run_subprocess(
        f"--deeplab-models={OFFICIAL}", f"--deeplab-mirror={mirror}", "--deeplab-offline",
        f"--deeplab-cache-dir={deeplab.path / 'cache'}", "--deeplab-update-golden", "-k",
        ONE_MASK, "-n", "2", "--dist", "loadgroup")

    result.assert_outcomes(passed=1)
    out = " ".join(line.strip() for line in result.outlines)
    assert f"trust on first use: {OFFICIAL} has no published checksum and was pinned from " \
           f"mirror {mirror}:" in out
    assert out.count("trust on first use") == 1  # the worker that pinned it, once


def test_require_pins_under_xdist_is_refused_on_the_controller_with_its_message(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    """Workers collect, the controller does not: the check runs before any worker starts."""
    pytest.importorskip("xdist")
    mirror, _ = make_mirror(deeplab, small_model)

    result = deeplab.run_subprocess(
        f"--deeplab-models={OFFICIAL}", f"--deeplab-mirror={mirror}", "--deeplab-offline",
        "--deeplab-require-pins", "-n", "2")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"  - {OFFICIAL}: {TARBALL}: no published checksum, *"])
    assert "created: 2/2 workers" not in result.stdout.str()


def test_help_is_shown_whatever_require_pins_would_say(deeplab: DeepLabPytester) -> None:
    deeplab.configure(ini=f'deeplab_models = "{OFFICIAL}"\ndeeplab_require_pins = true')
    result = deeplab.pytester.runpytest("--help")
    assert result.ret == 0
    assert "--deeplab-require-pins" in result.stdout.str()
