"""docs/bad-input.md, "Model files": every row is run here through the plugin and its message
must be the one the page shows (paths shortened to the project, byte counts and machine memory
left open). A row without a case here, or a case without a row, fails: page and plugin cannot
drift apart."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, DeepLabPytester
from PIL import Image
from tflite_builders import build_all, scene

tf = pytest.importorskip("tensorflow")

PAGE = REPO / "docs" / "bad-input.md"
SECTION = "## Model files"


def page_rows() -> dict[str, tuple[str, str]]:
    """case -> (where, message) from the section's table."""
    section = PAGE.read_text(encoding="utf-8").split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("|---") or line.startswith("| file |"):
            continue
        case, where, message = (cell.strip() for cell in line.strip()[2:-2].split(" | "))
        rows[case] = (where, message.strip("`"))
    return rows


def shape_corrupted(data: bytes) -> bytes:
    """The input tensor's height byte-flipped to 0x7F000041: a tensor of terabytes."""
    from tensorflow.lite.python import schema_py_generated as schema

    copy = bytearray(data)
    tensor = schema.Model.GetRootAs(copy, 0).Subgraphs(0).Tensors(0)
    copy[tensor._tab.Vector(tensor._tab.Offset(4)) + 4 + 3] = 0x7F
    return bytes(copy)


Setup = Callable[[Path, dict[str, Path], Any], dict[str, Any]]


def tflite(name: str, data: Callable[[dict[str, Path], Any], bytes], **settings: Any) -> Setup:
    def setup(models: Path, tiny: dict[str, Path], small: Any) -> dict[str, Any]:
        path = models / f"{name}.tflite"
        path.write_bytes(data(tiny, small))
        return {"path": path, "format": "tflite", "label_set": 6, **settings}
    return setup


def half(path: Path) -> bytes:
    data = path.read_bytes()
    return data[: len(data) // 2]


def cut_graph(models: Path, tiny: dict[str, Path], small: Any) -> dict[str, Any]:
    path = models / "cut.pb"
    path.write_bytes(half(small.graph))
    return small.model(path=path)


ITEM_CASES: dict[str, tuple[str, Setup]] = {
    "a `.tflite` cut in half (a partial download or copy)":
        ("cut", tflite("cut", lambda t, s: half(t["float"]))),
    "a frozen graph declared `format = \"tflite\"`":
        ("graph", tflite("graph", lambda t, s: s.graph.read_bytes())),
    "an HTML error page saved as `.tflite`":
        ("html", tflite("html", lambda t, s: b"<!DOCTYPE html><html><body>Not Found</body>"
                                             b"</html>\n")),
    "an Edge TPU build (`*_edgetpu.tflite`)":
        ("edgetpu", tflite("edgetpu", lambda t, s: t["edgetpu"].read_bytes())),
    "two outputs that could be the mask, no `output_tensor`":
        ("two", tflite("two", lambda t, s: t["two_outputs"].read_bytes())),
    "6 logits channels, `label_set = \"pascal\"` (21 classes)":
        ("classes", tflite("classes", lambda t, s: t["float"].read_bytes(), label_set="pascal")),
    "`output_tensor = \"ResizeBilinear_3\"`, which the model does not have":
        ("tensor", tflite("tensor", lambda t, s: t["float"].read_bytes(),
                          output_tensor="ResizeBilinear_3")),
    "a tensor shape corrupted to terabytes (one changed byte)":
        ("huge", tflite("huge", lambda t, s: shape_corrupted(t["float"].read_bytes()))),
    "a frozen graph (`.pb`) cut in half": ("cutpb", cut_graph),
}
USAGE_CASES: dict[str, dict[str, Any]] = {
    "`resize = \"crop\"`": {"resize": "crop"},
    "`xnnpack = \"off\"`": {"xnnpack": "off"},
    "`resize` or `xnnpack` on a frozen graph": {"format": "frozen_graph", "resize": "stretch"},
}


def normalized(text: str, project: Path) -> str:
    """The page's form: project paths shortened, byte counts and memory sizes left open."""
    text = text.replace(f"{project}/", "")
    text = re.sub(r"\(\d+ bytes", "(N bytes", text)
    return re.sub(r"\d+(\.\d+)? GiB", "N GiB", text)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_all(tf, tmp_path_factory.mktemp("tflite"))


def test_the_page_lists_exactly_the_cases_run_here() -> None:
    assert set(page_rows()) == set(ITEM_CASES) | set(USAGE_CASES)


def test_each_damaged_model_file_fails_its_items_with_the_message_on_the_page(
    deeplab: DeepLabPytester, tiny: dict[str, Path], small_model: Any
) -> None:
    models_dir = deeplab.path / "models"
    models_dir.mkdir()
    photos = deeplab.path / "photos"
    photos.mkdir()
    Image.fromarray(scene(50, 80)).save(photos / "scene.png")
    models = {name: {**setup(models_dir, tiny, small_model), "golden_images": photos}
              for name, setup in ITEM_CASES.values()}
    deeplab.configure(models=models)
    result = deeplab.run(f"--deeplab-models={','.join(models)}", "-m", "deeplab_mask")
    result.assert_outcomes(failed=len(models))
    seen = {normalized(line, deeplab.path) for line in result.stdout.lines
            if line.startswith("ModelLoadError: ")}
    rows = page_rows()
    for case in ITEM_CASES:
        where, message = rows[case]
        assert where == "item"
        assert normalized(message, deeplab.path) in seen, (case, sorted(seen))


@pytest.mark.parametrize("case", list(USAGE_CASES))
def test_bad_tflite_settings_stop_the_run_with_the_message_on_the_page(
    deeplab: DeepLabPytester, tiny: dict[str, Path], small_model: Any, case: str
) -> None:
    settings = dict(USAGE_CASES[case])
    model = small_model.model(**settings) if settings.get("format") == "frozen_graph" else {
        "path": tiny["float"], "format": "tflite", "label_set": 6, **settings}
    deeplab.configure(models={"m": model})
    result = deeplab.run("--deeplab-models=m")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    where, message = page_rows()[case]
    assert where == "usage"
    assert message in normalized(result.stderr.str(), deeplab.path)
