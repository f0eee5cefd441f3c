"""Run both sides, compare them tensor by tensor, and (asked for) attribute the divergence.

Order of work, chosen for memory: side A runs alone and writes every float tensor it computes
(chunk by chunk) to a temporary folder; then side B runs and, after each chunk it writes, those
tensors are compared with A's, one pair at a time, and B's files are deleted. So at most one
TensorFlow process is alive (B reuses A's when their environments are the same), it holds at
most one chunk of fetched tensors, and this process holds a few blocks of one pair. Attribution
(`--attribute`) reruns each side with the optimised kernels flipped (oneDNN through
TF_ENABLE_ONEDNN_OPTS; XNNPACK for TF Lite) and compares the combinations.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from pytest_deeplab.constants import Log
from pytest_deeplab.explain.matching import chunks_for, match_tensors, plan_chunks
from pytest_deeplab.explain.profile import Profile, TensorDiff, compare_pair, mask_agreement
from pytest_deeplab.explain.sides import ModelRef, SideRun, SideSpec, Workers, run_side
from pytest_deeplab.explain.worker import peak_rss_mb
from pytest_deeplab.gate.controller import Side

DEFAULT_TOLERANCE = 1e-3
DEFAULT_CHUNK_MB = 128


@dataclass
class ExplainSettings:
    model_a: ModelRef
    model_b: ModelRef
    side_a: Side
    side_b: Side
    image: np.ndarray  # RGB uint8, demo-resized: what both sides are fed
    image_path: Path
    tolerance: float = DEFAULT_TOLERANCE
    chunk_mb: float = DEFAULT_CHUNK_MB
    attribute: bool = False
    unfused: bool = False
    workdir: Path | None = None

    @property
    def mode(self) -> str:
        return "files" if self.model_a.path != self.model_b.path else "environments"


@dataclass
class Explanation:
    settings: ExplainSettings
    profile: Profile
    runs: dict[str, SideRun]
    attribution: dict[str, Any] | None = None
    seconds: float = 0.0
    peak_rss_mb: float | None = None

    def as_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "model": s.model_a.name,
            "against": s.model_b.name if s.mode == "files" else None,
            "mode": s.mode,
            "unfused": s.unfused,
            "image": {"path": str(s.image_path),
                      "size": [int(s.image.shape[1]), int(s.image.shape[0])]},
            "sides": {label: run.summary() for label, run in self.runs.items()},
            **self.profile.as_dict(),
            "attribution": self.attribution,
            "memory": {
                "peak_rss_mb": {"explain": self.peak_rss_mb,
                                **{k: r.peak_rss_mb for k, r in self.runs.items()}},
                "chunk_mb": s.chunk_mb,
            },
            "seconds": round(self.seconds, 2),
        }


class Comparison:
    """Run X (the reference order) against run Y: pairs by name, diffs as Y's files arrive."""

    def __init__(self, x: SideRun, y_records: list[dict[str, Any]], tolerance: float) -> None:
        self.x = x
        pairs, unmatched_x, unmatched_y = match_tensors(x.records, y_records)
        self.profile = Profile(tolerance, unmatched_a=unmatched_x, unmatched_b=unmatched_y,
                               logits_name=x.describe.get("logits"))
        position = {r["name"]: i for i, r in enumerate(x.records)}
        self.by_y = {b["name"]: (position[a["name"]], a, b) for a, b in pairs}
        self.names = {a["name"]: b["name"] for a, b in pairs}
        self._diffs: dict[int, TensorDiff] = {}

    def compare(self, y: SideRun, names: list[str], delete: bool = False) -> None:
        for name in names:
            index, a, b = self.by_y[name]
            diff = TensorDiff(index=index, tensor=a["name"], op=a["op"], type=a["type"],
                              shape=list(a["shape"]), kernel=a.get("kernel", ""),
                              fused=list(a.get("fused", [])))
            if diff.kernel and b.get("kernel") and b["kernel"] != diff.kernel:
                diff.kernel_b = b["kernel"]
            if b["name"] != a["name"]:
                diff.tensor_b, diff.type_b = b["name"], b["type"]
            self._diffs[index] = compare_pair(diff, self.x.files[a["name"]], y.files[name],
                                              self.profile.tolerance)
            if delete:
                y.files[name].unlink()

    def finish(self, y: SideRun) -> Profile:
        self.profile.tensors = [self._diffs[i] for i in sorted(self._diffs)]
        if self.x.mask_file is not None and y.mask_file is not None:
            self.profile.mask = mask_agreement(np.load(self.x.mask_file),
                                               np.load(y.mask_file))
        return self.profile


def run_explain(settings: ExplainSettings, log: Log | None = None) -> Explanation:
    """Both sides, the profile, and the attribution when asked for."""
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    started = time.perf_counter()
    budget = int(settings.chunk_mb * 1024 * 1024)
    workers = Workers()
    with tempfile.TemporaryDirectory(prefix="pytest-deeplab-explain-",
                                     dir=settings.workdir) as tmp, _closing(workers):
        root = Path(tmp)
        image_file = root / "image.npy"
        np.save(image_file, settings.image, allow_pickle=False)
        spec_a = SideSpec("A", settings.model_a, settings.side_a, unfused=settings.unfused)
        spec_b = SideSpec("B", settings.model_b, settings.side_b, unfused=settings.unfused)
        a = run_side(spec_a, root / "A", image_file, lambda r: plan_chunks(r, budget), log,
                     workers)
        a_plan = plan_chunks(a.records, budget)
        b, profile = _against(a, a_plan, spec_b, root / "B", image_file, settings, log,
                              workers, keep=settings.attribute)
        runs = {"A": a, "B": b}
        attribution = None
        if settings.attribute:
            attribution = _attribute(a, b, a_plan, profile, root, image_file, settings, log,
                                     runs, workers)
    return Explanation(settings, profile, runs, attribution, time.perf_counter() - started,
                       peak_rss_mb())


@contextlib.contextmanager
def _closing(workers: Workers) -> Iterator[None]:
    try:
        yield
    finally:
        workers.close()


def _against(
    a: SideRun, a_plan: list[list[str]], spec: SideSpec, folder: Path, image_file: Path,
    settings: ExplainSettings, log: Log, workers: Workers, keep: bool,
) -> tuple[SideRun, Profile]:
    """Run `spec`, comparing each of its chunks with A's files as soon as it is written."""
    state: dict[str, Comparison] = {}

    def plan(records: list[dict[str, Any]]) -> list[list[str]]:
        state["c"] = Comparison(a, records, settings.tolerance)
        return chunks_for(a_plan, state["c"].names)

    def on_chunk(run: SideRun, names: list[str]) -> None:
        state["c"].compare(run, names, delete=not keep)

    run = run_side(spec, folder, image_file, plan, log, workers, on_chunk)
    return run, state["c"].finish(run)


def _like(
    a: SideRun, a_plan: list[list[str]], spec: SideSpec, folder: Path, image_file: Path,
    log: Log, workers: Workers,
) -> SideRun:
    """Run `spec` writing the tensors that match A's, in A's chunks (compared later)."""
    def plan(records: list[dict[str, Any]]) -> list[list[str]]:
        pairs, _, _ = match_tensors(a.records, records)
        return chunks_for(a_plan, {x["name"]: y["name"] for x, y in pairs})

    return run_side(spec, folder, image_file, plan, log, workers)


def _compare_runs(x: SideRun, y: SideRun, tolerance: float) -> Profile:
    comparison = Comparison(x, y.records, tolerance)
    comparison.compare(y, [n for n in comparison.by_y if n in y.files])
    return comparison.finish(y)


def flipped(spec: SideSpec, onednn: bool | None) -> SideSpec:
    """The same side with oneDNN switched the other way (and XNNPACK, for TF Lite)."""
    env = {**spec.side.env, "TF_ENABLE_ONEDNN_OPTS": "0" if onednn else "1"}
    xnnpack = not spec.xnnpack if spec.has_xnnpack else spec.xnnpack
    return replace(spec, label=spec.label + "'", side=replace(spec.side, env=env),
                   xnnpack=xnnpack)


def kernels(run: SideRun) -> str:
    """How a run's optimised kernels were set, in words."""
    if run.spec.has_xnnpack:
        return f"{run.spec.label} XNNPACK {'on' if run.spec.xnnpack else 'off'}"
    onednn = run.onednn
    return f"{run.spec.label} oneDNN {'on' if onednn else 'off' if onednn is not None else 'n/a'}"


def _attribute(
    a: SideRun, b: SideRun, a_plan: list[list[str]], profile: Profile, root: Path,
    image_file: Path, settings: ExplainSettings, log: Log, runs: dict[str, SideRun],
    workers: Workers,
) -> dict[str, Any]:
    """Rerun each side with its kernels flipped; does the divergence go away in any pairing?"""
    original = profile.first_divergence
    if original is None:
        return {"ran": False, "reason": "no divergence to attribute", "variants": []}
    log("explain: attribution: rerunning both sides with oneDNN / XNNPACK flipped ...")
    a2, b2 = (_like(a, a_plan, flipped(run.spec, run.onednn), root / folder, image_file, log,
                    workers) for run, folder in ((a, "A2"), (b, "B2")))
    runs.update({"A'": a2, "B'": b2})
    variants = []
    for x, y in ((a2, b), (a, b2), (a2, b2)):
        p = _compare_runs(x, y, settings.tolerance)
        first = p.first_divergence
        variants.append({
            "a": kernels(x), "b": kernels(y),
            "first_difference": None if p.first_difference is None else p.first_difference.op,
            "first_divergence": None if first is None else first.as_dict(),
            "largest_rel_l2": p.largest.rel_l2 if p.largest else 0.0,
            "logits_rel_l2": p.logits.rel_l2 if p.logits else None,
            "mask": p.mask, "disappears": first is None,
        })
    gone = [v for v in variants if v["disappears"]]
    if gone:
        conclusion = ("the divergence disappears with " + "; ".join(
            f"{v['a']} vs {v['b']}" for v in gone) + ": it comes from the optimised kernels "
            "(oneDNN / XNNPACK), not from the graph or TensorFlow's reference kernels")
    else:
        conclusion = ("the divergence persists with oneDNN (and XNNPACK) flipped on either or "
                      "both sides: the optimised kernels do not explain it")
    return {"ran": True, "original": f"{kernels(a)} vs {kernels(b)}", "variants": variants,
            "conclusion": conclusion}
