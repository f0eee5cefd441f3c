"""The run's HTML report (`--deeplab-report=FILE.html`): one self-contained file.

Per model and golden image: the input, the ground truth (when the model's dataset labels that
image), the golden mask, the current mask (label-set colours, legend of class names) and a diff
overlay; agreement, per-class IoU, mIOU and latency beside them. Failures come first, at the
top of the page and within each model. A header says which TensorFlow build (oneDNN flag,
threads) on which machine produced it. Rendered with Jinja2 (autoescaping on): every name and
message from a model, a file or a test is escaped.
"""

from __future__ import annotations

import math
import os
import platform
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Optional

from pytest_deeplab import __version__
from pytest_deeplab.constants import suite_nodeid
from pytest_deeplab.report.collect import ItemOutcome, MaskRecord, MiouRecord, OutcomeLog
from pytest_deeplab.report.run import ModelEntry, RunRecord
from pytest_deeplab.verdicts.results import ModelResults

TEMPLATES = Path(__file__).resolve().parent / "templates"

BADGES: dict[str, tuple[str, str]] = {
    # status -> (symbol, words): the words carry the meaning, colour only repeats it
    "fail": ("\u2718", "FAIL"),
    "error": ("\u2718", "ERROR"),
    "pass": ("\u2714", "PASS"),
    "written": ("\u270e", "GOLDEN WRITTEN"),
    "skip": ("\u2013", "SKIPPED"),
    "none": ("?", "NOT RUN"),
}
ORDER = {"fail": 0, "error": 0, "none": 1, "pass": 2, "written": 2, "skip": 3}
PANEL_TITLES = {
    "input": "input",
    "truth": "ground truth",
    "golden": "golden mask",
    "current": "current mask",
    "diff": "changed pixels",
}


class ReportError(RuntimeError):
    """The report cannot be written (a missing library, an unwritable path)."""


# --- view model ------------------------------------------------------------------------------


@dataclass
class Panel:
    key: str
    title: str
    uri: str = ""
    caption: str = ""
    missing: str = ""


@dataclass
class ImageView:
    image_id: str
    anchor: str
    status: str
    record: Optional[MaskRecord]
    panels: list[Panel] = field(default_factory=list)
    legend: list[tuple[int, str, str]] = field(default_factory=list)
    class_iou: list[tuple[str, float, bool]] = field(default_factory=list)
    message: str = ""


@dataclass
class ModelView:
    name: str
    anchor: str
    status: str
    spec: ModelEntry
    result: ModelResults
    images: list[ImageView] = field(default_factory=list)
    miou: Optional[MiouRecord] = None
    miou_rows: list[tuple[str, Optional[float], int, bool]] = field(default_factory=list)
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    """(item label, status, message) for items that show no picture (mIOU, latency, errors)."""
    skipped: str = ""


@dataclass
class FailureLink:
    anchor: str
    model: str
    item: str
    headline: str


def anchor(*parts: str) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9_.-]+", "_", p) for p in parts)


def item_status(outcome: Optional[ItemOutcome], record: Optional[MaskRecord] = None) -> str:
    if outcome is not None:
        if outcome.outcome in ("failed", "error"):
            return "fail" if outcome.outcome == "failed" else "error"
        if outcome.outcome == "skipped":
            return "skip"
        if record is not None and record.status == "written":
            return "written"
        return "pass"
    if record is None:
        return "none"
    if record.status == "written":
        return "written"
    return "pass" if record.passed else "fail"


def headline(message: str) -> str:
    for line in message.splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


def image_view(record: MaskRecord, outcome: Optional[ItemOutcome], label_set: Any) -> ImageView:
    from pytest_deeplab.report.panels import hex_colour

    status = item_status(outcome, record)
    view = ImageView(record.image_id, anchor("img", record.model, record.image_id), status,
                     record)
    view.message = (outcome.message if outcome and outcome.message else "") or (
        record.note if status in ("fail", "error") else "")
    for key, title in PANEL_TITLES.items():
        panel = Panel(key, title, record.images.get(key, ""))
        if key == "diff" and panel.uri and record.differing_pixels is not None:
            panel.caption = (f"{record.differing_pixels} px changed" if record.differing_pixels
                             else "no pixel changed")
        if key == "golden" and record.golden_tensorflow:
            panel.caption = f"made with TF {record.golden_tensorflow}"
        if not panel.uri:
            if key == "truth":
                continue  # most golden images have no label: say nothing rather than "missing"
            panel.missing = {
                "input": "input not available (mask passed in directly)",
                "golden": "no golden mask" if record.status == "no-golden" else
                "golden not comparable" if record.status in ("model-changed", "image-changed")
                else "written now: this run's mask is the golden",
                "diff": "nothing to compare",
            }.get(key, "")
        view.panels.append(panel)
    view.legend = [(index, label_set.class_name(index) if index == label_set.ignore_label
                    else _class_name(label_set, index), hex_colour(label_set, index))
                   for index in record.classes]
    limit = record.min_class_iou if record.min_class_iou is not None else 0.0
    view.class_iou = sorted(((name, iou, iou < limit) for name, iou in record.class_iou.items()),
                            key=lambda row: (row[1], row[0]))
    return view


def _class_name(label_set: Any, index: int) -> str:
    if 0 <= index < label_set.num_classes:
        return str(label_set.class_names[index])
    return str(label_set.class_name(index))


def model_view(run: RunRecord, model: ModelEntry, log: OutcomeLog) -> ModelView:
    recorder = run.recorder
    result = run.results[model.name]
    outcomes = {o.nodeid: o for o in log.for_model(model.name)}
    records = [r for r in recorder.masks.values() if r.model == model.name]
    view = ModelView(model.name, anchor("model", model.name), "none", model, result)
    label_set = run.label_set(model)
    seen: set[str] = set()
    for record in records:
        outcome = outcomes.get(record.nodeid)
        seen.add(record.nodeid)
        view.images.append(image_view(record, outcome, label_set))
    view.images.sort(key=lambda v: (ORDER[v.status], v.image_id))
    miou = recorder.mious.get(model.name)
    if miou is not None:
        view.miou = miou
        mins = miou.failing_classes
        view.miou_rows = sorted(
            ((name, iou, miou.truth_pixels.get(name, 0), name in mins)
             for name, iou in miou.per_class_iou.items() if iou is not None),
            key=lambda row: (row[1] if row[1] is not None else -1.0, row[0]))
    for nodeid, outcome in outcomes.items():
        if nodeid in seen:
            continue
        label = nodeid.removeprefix(suite_nodeid(model.name, ""))
        status = item_status(outcome)
        if status in ("fail", "error") or (status == "skip" and outcome.message):
            view.problems.append((label, status, outcome.message))
    view.problems.sort(key=lambda p: (ORDER[p[1]], p[0]))
    statuses = [v.status for v in view.images] + [p[1] for p in view.problems]
    statuses += [item_status(o) for o in outcomes.values()]
    if result.skipped:
        view.status, view.skipped = "skip", result.skipped
    elif any(s in ("fail", "error") for s in statuses):
        view.status = "fail"
    elif result.golden_written:
        view.status = "written"
    elif statuses and all(s == "skip" for s in statuses):
        view.status = "skip"
    elif statuses:
        view.status = "pass"
    return view


def run_identity(run: RunRecord) -> list[tuple[str, str]]:
    from pytest_deeplab.suite.machine_info import cpu_description

    rows: list[tuple[str, str]] = []
    if run.any_model_loaded:
        ident = run.run_identity()
        onednn = {True: "on", False: "off", None: "n/a"}[ident.get("onednn")]
        source = ident.get("onednn_source") or ""
        rows.append(("TensorFlow", f"{ident['tensorflow']} ({ident.get('tensorflow_git', '')})"))
        rows.append(("oneDNN", f"{onednn}" + (f" ({source})" if source else "")))
        intra = ident.get("intra_op_threads") or "TF default"
        inter = ident.get("inter_op_threads") or "TF default"
        rows.append(("threads", f"intra-op {intra}, inter-op {inter}"))
        if ident.get("tflite_runtime"):
            rows.append(("TF Lite runtime", str(ident["tflite_runtime"])))
        if ident.get("keras"):
            rows.append(("Keras", str(ident["keras"])))
    else:  # nothing ran here: what is installed and set, without importing TensorFlow
        from pytest_deeplab.runtime.identity import installed_identity

        tf = installed_identity()
        rows.append(("TensorFlow", f"{tf['tensorflow'] or 'not installed'} installed; "
                                   "not loaded (no model ran)"))
        onednn = {True: "on", False: "off", None: "n/a"}[tf.get("onednn")]
        rows.append(("oneDNN", f"{onednn} ({tf.get('onednn_source') or 'default'})"))
        threads = run.threads
        rows.append(("threads", f"intra-op {threads}, inter-op 1" if threads
                     else "intra-op TF default, inter-op TF default"))
    cpu = cpu_description()
    affinity = getattr(os, "sched_getaffinity", None)
    usable = len(affinity(0)) if affinity is not None else cpu["count"]
    rows.append(("CPU", str(cpu["model"])))
    rows.append(("cores", f"{cpu['count']} ({usable} usable by this process)"))
    if cpu["simd_flags"]:
        rows.append(("SIMD", " ".join(cpu["simd_flags"])))
    rows.append(("machine", f"{platform.node()} · {platform.system()} {platform.release()}"
                            f" · {platform.machine()}"))
    import numpy

    rows.append(("Python", f"{platform.python_version()} · numpy {numpy.__version__}"
                           f" · pytest-deeplab {__version__}"))
    return rows


def build_context(
    run: RunRecord,
    log: OutcomeLog,
    *,
    command: str = "",
    exitstatus: int = 0,
) -> dict[str, Any]:
    models = [model_view(run, m, log) for m in run.models]
    models.sort(key=lambda v: ORDER[v.status])
    failures: list[FailureLink] = []
    for mv in models:
        for image in mv.images:
            if image.status in ("fail", "error"):
                failures.append(FailureLink(image.anchor, mv.name, f"{image.image_id} mask",
                                            headline(image.message)))
        for label, status, message in mv.problems:
            if status in ("fail", "error"):
                failures.append(FailureLink(mv.anchor, mv.name, label, headline(message)))
    counts = log.counts()
    checked = counts.get("passed", 0) + counts.get("failed", 0) + counts.get("error", 0)
    if failures or counts.get("failed") or counts.get("error"):
        verdict = "fail"
    elif checked == 0:
        verdict = "none"
    else:
        verdict = "pass"
    return {
        "title": "pytest-deeplab report",
        "generated": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "verdict": verdict,
        "verdict_text": {"fail": "FAILED", "pass": "PASSED",
                         "none": "NOTHING CHECKED"}[verdict],
        "exitstatus": int(exitstatus),
        "counts": counts,
        "identity": run_identity(run),
        "command": command,
        "models": models,
        "failures": failures,
        "cards": run.cards,
        "plugin_version": __version__,
    }


# --- rendering -------------------------------------------------------------------------------


def _environment() -> Any:
    try:
        import jinja2
    except ImportError as exc:  # a dependency, but say how to get it if an install lacks it
        raise ReportError(
            "the HTML report needs Jinja2: pip install jinja2 (a dependency of pytest-deeplab)"
        ) from exc
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = _pct
    env.filters["ms"] = _ms
    env.filters["num"] = _num
    env.globals["badges"] = BADGES
    return env


def _pct(value: Optional[float], digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:.{digits}f} %"


def _ms(value: Optional[float]) -> str:
    return "-" if value is None else f"{1000 * value:.1f} ms"


def _num(value: Optional[float], digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def render_template(name: str, context: dict[str, Any]) -> str:
    return str(_environment().get_template(name).render(**context))


def render_report(context: dict[str, Any]) -> str:
    return render_template("report.html.j2", context)


def write_report(
    path: Path, run: RunRecord, log: OutcomeLog, *, command: str = "", exitstatus: int = 0,
) -> Path:
    """Render the run's report and write it atomically to `path`."""
    from pytest_deeplab.files import write_atomically

    context = build_context(run, log, command=command, exitstatus=exitstatus)
    text = render_report(context)
    written = write_atomically(Path(path), lambda handle: handle.write(text.encode("utf-8")))
    written.chmod(0o644)  # the temporary file it came from was private
    return written
