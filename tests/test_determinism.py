"""Masks are identical run to run under fixed threads, in one process and across fresh processes;
and update mode refuses to write a golden when two predictions of one image differ."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import FIXTURES, DeepLabPytester, SmallModel, minizoo_manifest

from pytest_deeplab.data.listing import list_images
from pytest_deeplab.golden.store import mask_sha256

MODELS = ("mini_mnv2_os16", "mini_deeplabv3plus")
THREADS = 2
TESTS = Path(__file__).resolve().parent


def mask_hashes(
    graphs: dict[str, tuple[str, int]], threads: int, rounds: int = 1
) -> list[dict[str, dict[str, str]]]:
    """{model: {image_id: sha256 of the mask}} per round, every model loaded once."""
    from pytest_deeplab.data.images import demo_resize, load_rgb
    from pytest_deeplab.runtime import load_predictor

    images = list_images(FIXTURES / minizoo_manifest()["golden_images"])
    predictors = {
        name: load_predictor(name, Path(path), "frozen_graph", input_tensor="ImageTensor:0",
                             output_tensor="SemanticPredictions:0", threads=threads)
        for name, (path, _) in graphs.items()
    }
    out = []
    for _ in range(rounds):
        out.append({
            name: {
                ref.image_id: mask_sha256(
                    predictors[name].predict(demo_resize(load_rgb(ref.path), size)))
                for ref in images
            }
            for name, (_, size) in graphs.items()
        })
    return out


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, int]]:
    """The bundled graphs, extracted: {model: (path, input_size)}."""
    out = tmp_path_factory.mktemp("graphs")
    found = {}
    for entry in minizoo_manifest()["models"]:
        if entry["name"] not in MODELS:
            continue
        with tarfile.open(FIXTURES / entry["archive"]) as archive:
            data = archive.extractfile(archive.getmember(entry["member"]))
            assert data is not None
            path = out / f"{entry['name']}.pb"
            path.write_bytes(data.read())
        found[entry["name"]] = (str(path), int(entry["input_size"]))
    assert sorted(found) == sorted(MODELS)
    return found


def test_masks_are_identical_in_one_process_and_across_fresh_processes(
    graphs: dict[str, tuple[str, int]], tensorflow_preloaded: None
) -> None:
    code = (
        f"import json, sys; sys.path.insert(0, {str(TESTS)!r}); "
        "from test_determinism import mask_hashes; "
        f"print(json.dumps(mask_hashes(json.loads(sys.argv[1]), {THREADS})[0]))"
    )
    # two fresh processes, started before this one computes, so the three overlap
    children = [
        subprocess.Popen([sys.executable, "-c", code, json.dumps(graphs)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    first, second = mask_hashes(graphs, THREADS, rounds=2)
    assert first == second, "two predictions in one process differ"
    assert len(first) == len(MODELS) and all(len(v) == 6 for v in first.values())
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err[-2000:]
        assert json.loads(out.strip().splitlines()[-1]) == first, "a fresh process differs"


FLAKY = """
import numpy as np
import pytest_deeplab.runtime as runtime

ORIGINAL = runtime.load_predictor


class Flaky:
    '''Every second prediction has one pixel of another class (a non-deterministic op).'''

    def __init__(self, inner):
        self.inner = inner
        self.calls = 0

    def predict(self, image):
        mask = np.array(self.inner.predict(image))
        self.calls += 1
        if self.calls % 2 == 0:
            mask[0, 0] = (int(mask[0, 0]) + 1) % 3
        return mask

    def __getattr__(self, name):
        return getattr(self.inner, name)


def flaky(*args, **kwargs):
    return Flaky(ORIGINAL(*args, **kwargs))


def pytest_configure(config):
    runtime.load_predictor = flaky


def pytest_unconfigure(config):
    runtime.load_predictor = ORIGINAL
"""


def test_update_mode_refuses_a_golden_when_two_predictions_differ(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    deeplab.configure(models={"my-small": small_model.model()})
    deeplab.pytester.makeconftest(FLAKY)
    golden = deeplab.path / "golden"
    result = deeplab.run("--deeplab-models=my-small", "-m", "deeplab_mask",
                         f"--deeplab-golden-dir={golden}", "--deeplab-update-golden")
    ids = [ref.image_id for ref in list_images(small_model.golden_images)]
    result.assert_outcomes(failed=len(ids))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    for image in ids:
        result.stdout.fnmatch_lines([
            f"model my-small is not deterministic on {image}: two predictions in one process "
            "differ in 1 pixels, so no golden was written. Pin threads with "
            "--deeplab-threads=1 or set TF_DETERMINISTIC_OPS=1, then try again."
        ])
    assert not list(golden.rglob("*.png")) and not list(golden.rglob("*.json"))
