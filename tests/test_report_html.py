"""The HTML report without TensorFlow: pictures, records, outcomes, ordering, escaping, cards,
and the xdist export/merge path. (The plugin writing it in a real run: test_report_plugin.py;
the page in a real browser: tests/browser/.)"""

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from report_helpers import (
    EVIL,
    MODEL,
    OTHER,
    build_synthetic_report,
    make_session,
    run_record,
)

from pytest_deeplab.data.labelsets import get_label_set
from pytest_deeplab.report import panels
from pytest_deeplab.report.cards import build_cards
from pytest_deeplab.report.collect import OutcomeLog
from pytest_deeplab.report.html import build_context, render_report, write_report
from pytest_deeplab.verdicts.diff_image import CHANGED_COLOUR
from pytest_deeplab.verdicts.record import ItemLog


def decode(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    image.load()
    return image


class Page(HTMLParser):
    """The parts of the page the tests look at: images, ids in order, badge texts."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.ids: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        d = dict(attrs)
        if tag == "img":
            self.images.append(d)
        if d.get("id"):
            self.ids.append(str(d["id"]))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


# --- pictures --------------------------------------------------------------------------------


def test_diff_overlay_paints_changed_pixels_and_rings_them() -> None:
    golden = np.zeros((60, 80), np.uint8)
    current = golden.copy()
    current[30, 40] = 3  # one pixel: must still be easy to find
    out = panels.diff_overlay(golden, current, np.full((60, 80, 3), 200, np.uint8))
    assert tuple(out[30, 40]) == CHANGED_COLOUR
    ring = np.all(out == panels.HALO_COLOUR, axis=2)
    assert ring[30, 37] and ring[27, 40] and not ring[30, 40]
    assert ring.sum() >= 12
    assert out[0, 0].max() < 100  # the photo is dimmed so the marks stand out
    same = panels.diff_overlay(golden, golden)
    assert not np.all(same == CHANGED_COLOUR, axis=2).any()


def test_mask_panel_is_a_palette_png_in_the_label_set_colours() -> None:
    label_set = get_label_set("cityscapes")
    mask = np.array([[0, 13], [10, 255]], np.uint8)
    image = decode(panels.mask_uri(mask, label_set))
    assert image.mode == "P"
    rgb = np.asarray(image.convert("RGB"))
    assert tuple(rgb[0, 0]) == (128, 64, 128)  # road
    assert tuple(rgb[0, 1]) == (0, 0, 142)  # car
    assert panels.hex_colour(label_set, 10) == "#4682b4"  # sky
    assert panels.classes_in(mask, None) == [0, 10, 13, 255]


def test_a_report_is_recorded_only_when_asked_for(tmp_path: Path) -> None:
    from pytest_deeplab.session import DeepLabSession

    asked = make_session(tmp_path, tmp_path / "r.html")
    assert asked.report is not None
    asked.options.report = None
    plain = DeepLabSession(asked.options)  # the same run without --deeplab-report
    assert plain.report is None
    assert plain.export()["report"] is None


# --- outcomes --------------------------------------------------------------------------------


def _rep(nodeid: str, outcome: str, when: str, longrepr: object = None) -> pytest.TestReport:
    return pytest.TestReport(nodeid=nodeid, location=("x", None, nodeid), keywords={},
                             outcome=outcome, longrepr=longrepr, when=when)  # type: ignore[arg-type]


def test_outcome_log_keeps_final_outcomes_and_messages() -> None:
    record = ItemLog()
    a, b, c = "deeplab::m::a::mask", "deeplab::m::miou", "deeplab::m::latency"
    x, xp = "deeplab::m::b::mask", "deeplab::m::c::mask"
    for nodeid in (a, b):
        record.pytest_runtest_logreport(_rep(nodeid, "passed", "setup"))
    record.pytest_runtest_logreport(_rep(a, "failed", "call", "mask differs"))
    record.pytest_runtest_logreport(_rep(b, "passed", "call"))
    record.pytest_runtest_logreport(_rep(b, "failed", "teardown", "teardown broke"))
    record.pytest_runtest_logreport(_rep(c, "skipped", "setup", ("f", 1, "Skipped: no benchmark")))
    record.pytest_runtest_logreport(_rep("tests/test_x.py::test_other", "failed", "call", "x"))
    xfailed = _rep(x, "skipped", "call", ("f", 1, "known drift"))
    xfailed.wasxfail = "known drift"
    xpassed = _rep(xp, "passed", "call")
    xpassed.wasxfail = ""
    record.pytest_runtest_logreport(xfailed)
    record.pytest_runtest_logreport(xpassed)
    log = OutcomeLog.from_items(record.results())
    assert {n: (i.outcome, i.message) for n, i in log.items.items()} == {
        a: ("failed", "mask differs"),
        b: ("error", "teardown broke"),
        c: ("skipped", "no benchmark"),
        x: ("skipped", "known drift"),
        xp: ("passed", ""),  # as the merged report shows it: one record, one rule
    }
    assert [i.nodeid for i in log.for_model("m")] == [a, b, c, x, xp]
    assert log.counts() == {"failed": 1, "error": 1, "skipped": 2, "passed": 1}


# --- the page --------------------------------------------------------------------------------


@pytest.fixture
def synthetic(tmp_path: Path) -> tuple[object, OutcomeLog, str]:
    deeplab, log = build_synthetic_report(tmp_path)
    context = build_context(run_record(deeplab), log,
                            command="pytest --deeplab-models=street-model")
    return deeplab, log, render_report(context)


def test_failures_come_first_on_the_page_and_within_each_model(
    synthetic: tuple[object, OutcomeLog, str],
) -> None:
    _, _, html = synthetic
    page = parse(html)
    text = re.sub(r"\s+", " ", " ".join(page.text))
    assert "✘ FAILED" in text and "3 failed" in text and "1 error" in text
    nav = html.index('aria-label="failures"')
    assert nav < html.index('id="summary"')
    links = re.findall(r'<li><a href="#([^"]+)">', html[nav:html.index("</nav>")])
    assert links[:2] == [f"img-{MODEL}-scene_01", f"img-{MODEL}-scene_02"]
    assert f"model-{MODEL}" in links  # the mIOU and the latency error
    ids = [i for i in page.ids if i.startswith(("model-", "img-"))]
    assert ids.index(f"model-{MODEL}") < ids.index(f"model-{OTHER}")  # failing model first
    cards = [i for i in ids if i.startswith(f"img-{MODEL}")]
    assert cards == [f"img-{MODEL}-scene_01", f"img-{MODEL}-scene_02",
                     f"img-{MODEL}-scene_00"]


def test_each_image_shows_input_truth_golden_current_and_diff_with_figures(
    synthetic: tuple[object, OutcomeLog, str],
) -> None:
    _, _, html = synthetic
    card = html[html.index(f'id="img-{MODEL}-scene_01"'):html.index(f'id="img-{MODEL}-scene_02"')]
    alts = re.findall(r'alt="([^"]+)"', card)
    assert alts == [f"{title}: {MODEL} on scene_01" for title in
                    ("input", "ground truth", "golden mask", "current mask", "changed pixels")]
    for uri in re.findall(r'src="(data:[^"]+)"', card):
        assert decode(uri).width > 0
    assert re.search(r"✘</span> FAIL", card) and "agreement" in card and "pixels changed" in card
    assert re.search(r"background \u2192 vehicle|building \u2192 vehicle|sky \u2192 vehicle",
                     card)
    assert "4 vehicle" in card and "changed" in card  # legend with class names
    assert "made with TF 2.15.1" in card
    missing = html[html.index(f'id="img-{MODEL}-scene_02"'):]
    assert "no golden mask" in missing.split("</article>")[0]


def test_header_says_which_tensorflow_and_machine(
    synthetic: tuple[object, OutcomeLog, str],
) -> None:
    _, _, html = synthetic
    text = re.sub(r"\s+", " ", " ".join(parse(html).text))
    for label in ("TensorFlow", "CPU", "cores", "Python", "command"):
        assert f">{label}</th>" in html, label
    assert "not loaded (no model ran)" in text  # nothing was loaded in this process
    assert "pytest --deeplab-models=street-model" in text


def test_miou_latency_and_errors_are_beside_the_pictures(
    synthetic: tuple[object, OutcomeLog, str],
) -> None:
    _, _, html = synthetic
    section = html[html.index(f'id="model-{MODEL}"'):html.index(f'id="model-{OTHER}"')]
    assert "BELOW" in section and "per-class IoU over the labelled dataset" in section
    assert "ModelLoadError: could not load the graph" in section
    other = html[html.index(f'id="model-{OTHER}"'):]
    assert "8.1 ms" in other and "15.0 ms" in other


def test_names_and_messages_are_escaped(synthetic: tuple[object, OutcomeLog, str]) -> None:
    _, _, html = synthetic
    assert EVIL not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<script" not in html  # the report runs no script at all


def test_model_cards_show_published_facts_without_measuring(tmp_path: Path) -> None:
    from pytest_deeplab.options import DeepLabOptions
    from pytest_deeplab.session import DeepLabSession

    options = DeepLabOptions(rootdir=tmp_path, models="mobilenetv2_dm05_coco_voc_trainval",
                             update_golden=None, golden_dir=tmp_path, cache_dir=tmp_path,
                             report=tmp_path / "r.html")
    session = DeepLabSession(options)
    (card,) = build_cards(session.selected, session.results)
    rows = {label: (measured, published) for label, measured, published, _ in card.rows}
    assert not card.measured and card.published_from == "zoo"
    assert rows["multiply-adds"] == ("", "2.84B")
    assert rows["output stride"] == ("", "8")
    assert rows["format"] == ("frozen_graph", "")


def test_worker_records_reach_the_controller_through_export_and_merge(tmp_path: Path) -> None:
    worker, log = build_synthetic_report(tmp_path / "w")
    data = json.loads(json.dumps(worker.export()))  # what crosses the process boundary
    controller = make_session(tmp_path, tmp_path / "report.html")
    controller.merge_worker(data)
    assert controller.report.export() == worker.report.export()
    assert controller.results[MODEL].agreements == worker.results[MODEL].agreements
    path = write_report(tmp_path / "out" / "report.html", run_record(controller), log)
    html = path.read_text()
    assert html.count('class="image-card status-') == 6  # 4 images, mIOU and latency errors
    assert len(parse(html).images) == 4 * 5 - 2  # scene_02 has no golden and no diff
    assert path.stat().st_mode & 0o044  # readable by others, like any report
