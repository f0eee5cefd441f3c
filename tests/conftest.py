"""Shared helpers for the plugin tests: run pytest (via `pytester`) on a throwaway project.

`deeplab` (the fixture) wraps `pytester` with what every plugin test needs: a private model
cache, no `CI` variable leaking in from the machine running the tests, a `pyproject.toml`
writer for `[tool.pytest-deeplab]` tables, and a "small model" declared as a *user* model (the
bundled `mini_mnv2_os16` graph, extracted once per session) so golden and threshold behaviour can
be tested in a tmp dir without touching the goldens shipped with the package.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
MANIFEST = FIXTURES / "minizoo.json"
REAL_ZOO = Path(__file__).resolve().parents[2] / "shared" / "real-zoo"
REAL_DM05 = REAL_ZOO / "models" / "mnv2_dm05_pascal_reexport_frozen_inference_graph.pb"
SMALL = "mini_mnv2_os16"
"""The smallest bundled model: most tests use it."""

IN_CI = bool(os.environ.get("CI"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """In CI every resource a test needs must be there: a skip is turned into a failure.

    Locally a missing resource (../shared/real-zoo, TensorFlow, chromium) skips with its reason;
    on CI the same skip would turn a broken install into a green run, so it fails instead.
    """
    report = yield
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (
            f"skipped in CI, where every resource must be present: {reason}. "
            "Install what it names in .ci/run (or unset CI to skip locally)."
        )
    return report


def pytest_runtest_setup(item: pytest.Item) -> None:
    """`needs_tf` is enforced: without TensorFlow such a test skips (and fails in CI)."""
    if item.get_closest_marker("needs_tf") and importlib.util.find_spec("tensorflow") is None:
        pytest.skip("needs TensorFlow: pip install 'pytest-deeplab[tf]'")


requires_real_zoo = pytest.mark.skipif(
    not REAL_DM05.is_file(),
    reason=f"the real DeepLab artefacts are not on this machine ({REAL_ZOO} is absent)",
)


def minizoo_manifest() -> dict[str, Any]:
    """The bundled mini-zoo's manifest; its absence is a broken checkout, not a reason to skip."""
    assert MANIFEST.is_file(), f"the bundled mini-zoo manifest {MANIFEST} is missing"
    manifest: dict[str, Any] = json.loads(MANIFEST.read_text())
    return manifest


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value))  # a JSON string is a valid TOML basic string
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def deeplab_toml(
    models: Mapping[str, Mapping[str, Any]] | None = None,
    datasets: Mapping[str, Mapping[str, Any]] | None = None,
    prefix: str = "tool.pytest-deeplab.",
) -> str:
    lines: list[str] = []
    for kind, tables in (("datasets", datasets or {}), ("models", models or {})):
        for name, table in tables.items():
            lines.append(f"[{prefix}{kind}.{name}]")
            lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
            lines.append("")
    return "\n".join(lines)


@dataclass(frozen=True)
class SmallModel:
    """The smallest bundled graph and its labelled scenes, ready to declare as a user model."""

    graph: Path
    input_size: int
    label_set: str
    images: Path
    labels: Path
    label_suffix: str
    golden_images: Path

    def dataset(self, **changes: Any) -> dict[str, Any]:
        table = {"images": self.images, "labels": self.labels, "label_set": self.label_set}
        if self.label_suffix:
            table["label_suffix"] = self.label_suffix
        table.update(changes)
        return table

    def model(self, **changes: Any) -> dict[str, Any]:
        table: dict[str, Any] = {
            "path": self.graph,
            "format": "frozen_graph",
            "label_set": self.label_set,
            "input_size": self.input_size,
            "golden_images": self.golden_images,
        }
        table.update(changes)
        return {k: v for k, v in table.items() if v is not None}


@pytest.fixture(scope="session")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> SmallModel:
    manifest = minizoo_manifest()
    entry = next(m for m in manifest["models"] if m["name"] == SMALL)
    dataset = manifest["datasets"][entry["dataset"]]
    out = tmp_path_factory.mktemp("small-model")
    with tarfile.open(FIXTURES / entry["archive"]) as archive:
        member = archive.getmember(entry["member"])
        extracted = archive.extractfile(member)
        assert extracted is not None
        graph = out / "frozen_inference_graph.pb"
        graph.write_bytes(extracted.read())
    return SmallModel(
        graph=graph,
        input_size=int(entry["input_size"]),
        label_set=entry.get("label_set", "minizoo"),
        images=FIXTURES / dataset["images"],
        labels=FIXTURES / dataset["labels"],
        label_suffix=dataset.get("label_suffix", ""),
        golden_images=FIXTURES / manifest["golden_images"],
    )


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for every inner run: bundled archives are extracted once."""
    return tmp_path_factory.mktemp("deeplab-cache")


class DeepLabPytester:
    """`pytester` plus the plugin's settings every inner run needs."""

    def __init__(self, pytester: pytest.Pytester, cache: Path) -> None:
        self.pytester = pytester
        self.cache = cache
        self.path = pytester.path

    def configure(
        self,
        models: Mapping[str, Mapping[str, Any]] | None = None,
        datasets: Mapping[str, Mapping[str, Any]] | None = None,
        ini: str = "",
    ) -> Path:
        """Write the project's pyproject.toml with `[tool.pytest-deeplab]` tables."""
        text = f"[tool.pytest.ini_options]\n{ini}\n\n" + deeplab_toml(models, datasets)
        path = self.path / "pyproject.toml"
        path.write_text(text)
        return path

    def args(self, *args: str) -> list[str]:
        return [f"--deeplab-cache-dir={self.cache}", "-p", "no:cacheprovider", *args]

    def run(self, *args: str) -> pytest.RunResult:
        """In-process: TensorFlow is imported once for the whole test session."""
        return self.pytester.runpytest(*self.args(*args))

    def run_subprocess(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest_subprocess(*self.args(*args))


@pytest.fixture(scope="session")
def tensorflow_preloaded() -> None:
    """Import TensorFlow in this (outer) process, once.

    `pytester.runpytest` restores `sys.modules` after each in-process run, dropping whatever the
    inner run imported. TensorFlow cannot be imported a second time in one process (its native
    registries abort), so it must already be loaded out here, where the snapshot keeps it.
    """
    import tensorflow  # noqa: F401


@pytest.fixture
def deeplab(
    pytester: pytest.Pytester,
    model_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    tensorflow_preloaded: None,
) -> Iterator[DeepLabPytester]:
    monkeypatch.delenv("CI", raising=False)  # the project's own CI sets it; inner runs must not
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)  # under `pytest -n N` inner runs are not workers
    monkeypatch.delenv("PYTEST_DEEPLAB_CACHE", raising=False)
    yield DeepLabPytester(pytester, model_cache)


COUNT_LOADS = """
import os
from pathlib import Path

import pytest_deeplab.runtime as runtime

LOADS = []
ORIGINAL = runtime.load_predictor
ROOT = []


def counting(name, *args, **kwargs):
    LOADS.append(name)
    who = os.environ.get("PYTEST_XDIST_WORKER", "controller")
    with open(Path(ROOT[0], "loads-" + who + ".txt"), "a") as log:
        log.write(name + "\\n")
    return ORIGINAL(name, *args, **kwargs)


def pytest_configure(config):
    ROOT.append(config.rootpath)
    runtime.load_predictor = counting


def pytest_unconfigure(config):
    runtime.load_predictor = ORIGINAL
    print("LOADS=" + ",".join(LOADS))
"""
"""A conftest for pytester projects that counts model loads per process: it prints `LOADS=a,b`
and appends each load to `loads-<worker or controller>.txt` in the rootdir as it happens (not at
exit: xdist gives a worker 10 s to exit after it reports and then kills it, so a log written at
`pytest_unconfigure` can be lost on a loaded machine). Delete the files between two runs."""
