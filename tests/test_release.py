"""Each model is released after the last item that needs it, so a run's memory follows its
largest model rather than the sum of them (issue 14).

The inner runs' conftest (`TRACK`) wraps the runtime's loader: it logs every load and, after
every item, which loaded models are still alive (held by a weak reference, so a model is only
"gone" once nothing in the process holds it any more).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DeepLabPytester

MODELS = ("mini_mnv2_os16", "mini_deeplabv3plus")
ITEMS_PER_MODEL = 6 + 2  # six golden images, mIOU, latency

TRACK = """
import os
import weakref
from pathlib import Path

import pytest_deeplab.runtime as runtime

LIVE = {}
LOG = []  # the log file, once configured
ORIGINAL = runtime.load_predictor


def log(line):
    # appended as it happens: an xdist worker may be stopped before its unconfigure runs
    with open(LOG[0], "a") as out:
        out.write(line + "\\n")


def tracking(name, *args, **kwargs):
    predictor = ORIGINAL(name, *args, **kwargs)
    log("load " + name)
    LIVE.setdefault(name, []).append(weakref.ref(predictor))
    return predictor


def pytest_configure(config):
    who = os.environ.get("PYTEST_XDIST_WORKER", "controller")
    LOG.append(Path(config.rootpath, "events-" + who + ".txt"))
    LOG[0].write_text("")
    runtime.load_predictor = tracking


def pytest_runtest_logfinish(nodeid, location):
    alive = sorted(n for n, refs in LIVE.items() if any(r() is not None for r in refs))
    log("after " + nodeid.split("@")[0] + " alive " + ",".join(alive))


def pytest_unconfigure(config):
    runtime.load_predictor = ORIGINAL
"""


def events(path: Path) -> dict[str, list[str]]:
    """Per process (controller or xdist worker): its log of loads and post-item live models."""
    return {f.stem[len("events-"):]: f.read_text().splitlines()
            for f in sorted(path.glob("events-*.txt"))}


def alive_after(log: list[str]) -> dict[str, list[str]]:
    """Test id -> models alive right after it ran."""
    out = {}
    for line in log:
        if line.startswith("after "):
            nodeid, _, alive = line[len("after "):].partition(" alive ")
            out[nodeid] = [n for n in alive.split(",") if n]
    return out


def loads(log: list[str]) -> list[str]:
    return [line[len("load "):] for line in log if line.startswith("load ")]


def suite_args(*extra: str) -> tuple[str, ...]:
    return (f"--deeplab-models={','.join(MODELS)}", "--benchmark-disable", *extra)


def test_a_model_is_released_after_its_last_item(deeplab: DeepLabPytester) -> None:
    deeplab.pytester.makeconftest(TRACK)
    result = deeplab.run(*suite_args("-m", "deeplab"))
    result.assert_outcomes(passed=2 * ITEMS_PER_MODEL)

    log = events(deeplab.path)["controller"]
    assert loads(log) == list(MODELS)  # once each
    after = alive_after(log)
    assert len(after) == 2 * ITEMS_PER_MODEL
    first, second = MODELS
    for nodeid, alive in after.items():
        model = nodeid.split("::")[1]
        if nodeid.endswith("::latency"):  # the model's last item: gone once it has run
            assert alive == [], nodeid
        else:  # kept between its items, and never alive together with the other model
            assert alive == [model], nodeid
    assert list(after).index(f"deeplab::{first}::latency") < list(after).index(
        f"deeplab::{second}::miou")
    assert "extra model load" not in result.stdout.str()


USER_TESTS = """
def test_mask_shape(deeplab_model):
    ref = deeplab_model.golden_images()[0]
    mask = deeplab_model.predict_file(ref.path)
    assert mask.ndim == 2 and mask.size > 0


def test_classes_in_range(deeplab_model):
    ref = deeplab_model.golden_images()[1]
    assert deeplab_model.predict_file(ref.path).max() < deeplab_model.label_set.num_classes
"""


def test_user_tests_keep_their_model_until_its_last_user(deeplab: DeepLabPytester) -> None:
    """`deeplab_model` tests run model after model (test_a[m1], test_a[m2], test_b[m1], ...):
    the models stay loaded through them, then the suite's items, then each goes."""
    deeplab.pytester.makeconftest(TRACK)
    deeplab.pytester.makepyfile(test_user=USER_TESTS)
    result = deeplab.run(*suite_args())
    result.assert_outcomes(passed=2 * 2 + 2 * ITEMS_PER_MODEL)

    log = events(deeplab.path)["controller"]
    assert loads(log) == list(MODELS)
    after = alive_after(log)
    first, second = MODELS
    assert after[f"test_user.py::test_classes_in_range[{first}]"] == sorted(MODELS)
    assert after[f"deeplab::{first}::latency"] == [second]
    assert after[f"deeplab::{second}::latency"] == []


LATE_TEST = """
import pytest


def test_late(deeplab_session):
    spec = deeplab_session.catalogue.models["mini_mnv2_os16"]
    ref = deeplab_session.selection.golden_images(spec)[0]
    image = deeplab_session.prepared_image(ref.path, deeplab_session.input_size(spec))
    mask = deeplab_session.predictor(spec).predict(image)
    golden = deeplab_session.golden_store(spec).load(spec.name, ref.image_id)
    assert (mask == golden.mask).mean() > 0.999
    assert deeplab_session.reloads == 1
"""

MOVE_LATE_TO_END = TRACK + """

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    late = [item for item in items if item.name == "test_late"]
    items[:] = [item for item in items if item.name != "test_late"] + late
"""


def test_a_model_needed_after_its_release_is_loaded_again(deeplab: DeepLabPytester) -> None:
    """`deeplab_session` users are not tracked: one running after the suite gets the model
    back, freshly loaded and giving the same masks, and the run says it cost a reload."""
    deeplab.pytester.makeconftest(MOVE_LATE_TO_END)
    deeplab.pytester.makepyfile(test_late=LATE_TEST)
    result = deeplab.run(*suite_args())
    result.assert_outcomes(passed=1 + 2 * ITEMS_PER_MODEL)

    log = events(deeplab.path)["controller"]
    assert loads(log) == [*MODELS, MODELS[0]]
    result.stdout.fnmatch_lines(["1 extra model load(s)*"])


def test_xdist_workers_release_their_models(deeplab: DeepLabPytester) -> None:
    pytest.importorskip("xdist")
    deeplab.pytester.makeconftest(TRACK)
    result = deeplab.run_subprocess(*suite_args("-m", "deeplab", "-n", "2",
                                                "--dist", "loadgroup"))
    result.assert_outcomes(passed=2 * ITEMS_PER_MODEL)

    per_process = events(deeplab.path)
    assert loads(per_process.pop("controller", [])) == []
    assert sorted(n for log in per_process.values() for n in loads(log)) == sorted(MODELS)
    ran = 0
    for log in per_process.values():
        for nodeid, alive in alive_after(log).items():
            expected = [] if nodeid.endswith("::latency") else [nodeid.split("::")[1]]
            assert alive == expected, nodeid
            ran += 1
    assert ran == 2 * ITEMS_PER_MODEL
