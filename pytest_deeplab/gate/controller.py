"""The upgrade gate: the same models, two environments, timed alternately in one run.

Comparing two CI runs made hours apart on shared runners mixes machine noise into the answer.
Here a long-lived worker is started in each interpreter (`PY -m pytest_deeplab.gate.worker`,
gate_workers); each loads the selected models once, then single timed inferences alternate
between them (gate_sampling) until a sequential test (gate_sequential) decides, per model,
whether B/A lies above or below the threshold, or the time budget runs out. Verdicts hold a
family-wise false-alarm rate across models (gate_verdict). The masks both environments produce
on the model's images are compared too: no goldens needed.

Exit status: 0 pass, 1 a model FAILs (slower beyond the threshold, masks disagree, it cannot be
loaded or run, an image one side did not return), 2 the gate could not run (bad environment,
a side that is not what was asked for, nothing selected), 3 INCONCLUSIVE (the budget ran out
before a metric was decided; nothing failed).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from pytest_deeplab.constants import Log
from pytest_deeplab.gate.identity import check_distributions, check_tensorflow
from pytest_deeplab.gate.process import (
    GateError,
    Side,
    WorkerCommandError,
    WorkerProcess,
    call_both,
)
from pytest_deeplab.gate.render import render
from pytest_deeplab.gate.results import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_INCONCLUSIVE,
    EXIT_PASS,
    GateReport,
    ModelOutcome,
    SideSamples,
)
from pytest_deeplab.gate.sampling import agreement_by_image, measure_model
from pytest_deeplab.gate.settings import GateSettings
from pytest_deeplab.gate.verdict import decide, family_size, judge
from pytest_deeplab.gate.worker import PROTOCOL
from pytest_deeplab.options import build_options

__all__ = [
    "EXIT_ERROR", "EXIT_FAIL", "EXIT_INCONCLUSIVE", "EXIT_PASS", "GateError", "GateReport",
    "GateSettings", "ModelOutcome", "Side", "SideSamples", "WorkerCommandError",
    "WorkerProcess", "agreement_by_image", "decide", "judge", "render", "run_gate",
]



def _stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_gate(settings: GateSettings, log: Log = _stderr_log) -> GateReport:
    """Start both workers, measure every selected model, and return the judged report."""
    started = time.perf_counter()
    selected = resolve_models(settings)
    names = [m.name for m in selected]
    workers = [WorkerProcess(settings.baseline, settings.rootdir),
               WorkerProcess(settings.candidate, settings.rootdir)]
    identities: dict[str, dict[str, Any]] = {}
    outcomes: list[ModelOutcome] = []
    hypotheses = family_size(settings, len(selected))
    alpha_each = (1 - settings.confidence) / hypotheses
    try:
        for worker in workers:
            worker.send("hello", distributions=sorted(worker.side.expected))
        for worker in workers:
            hello = worker.receive(120)
            _check_protocol(worker, hello)
            check_distributions(worker.side, hello)
            identities[worker.side.label] = {
                k: hello[k] for k in ("python", "numpy", "plugin_version", "pid")
            }
        for worker in workers:
            worker.send("setup", options=settings.worker_options(worker.side), models=names)
        for worker in workers:
            try:
                worker.receive(300)
            except WorkerCommandError as exc:
                raise GateError(f"{exc} (resolving the models in {worker.side.python})") from None
        log("gate: importing TensorFlow in both environments ...")
        for reply, worker in zip(call_both(workers, "identity", 600), workers):
            ident = reply["identity"]
            check_tensorflow(worker.side, ident)
            identities[worker.side.label].update(ident)
            log(f"gate: [{worker.side.label}] {worker.side.python}: TensorFlow "
                f"{ident['tensorflow']}, oneDNN {ident.get('onednn')}, "
                f"intra-op threads {ident.get('intra_op_threads') or 'default'}")
        for model in selected:
            outcome = measure_model(workers, model.name, model.min_agreement, settings,
                                    alpha_each, log)
            log(f"gate: {model.name}: {outcome.rounds} rounds ({outcome.stopped or 'error'}) "
                f"in {outcome.seconds:.0f} s")
            outcomes.append(outcome)
    except WorkerCommandError as exc:
        raise GateError(str(exc)) from None
    finally:
        for worker in workers:
            worker.close()
    decide(outcomes, settings)
    for outcome in outcomes:
        log(f"gate: {outcome.name}: {outcome.verdict}")
    return GateReport(settings, identities, outcomes, time.perf_counter() - started, hypotheses)


def _check_protocol(worker: WorkerProcess, hello: dict[str, Any]) -> None:
    if hello.get("protocol") != PROTOCOL:
        raise GateError(
            f"[{worker.side.label}] {worker.side.python} has pytest-deeplab "
            f"{hello.get('plugin_version')} speaking gate protocol {hello.get('protocol')}, "
            f"this one speaks {PROTOCOL}: install the same pytest-deeplab in both environments.")


def resolve_models(settings: GateSettings) -> list[Any]:
    """The selection, resolved as the plugin resolves it (no TensorFlow import here)."""
    from pytest_deeplab.catalogue.resolved import resolve_selection
    from pytest_deeplab.errors import DeepLabError
    from pytest_deeplab.fetching.model_files import ModelFiles

    try:
        options = build_options(
            settings.rootdir, settings.models, cache_dir=settings.cache_dir,
            mirrors=list(settings.mirrors), offline=settings.offline,
            require_pins=settings.require_pins, config_file=settings.config_file,
        )
        selected: list[Any] = resolve_selection(options).selected
        ModelFiles(options).require_pins(selected, option="--require-pins")  # before any worker
    except DeepLabError as exc:  # includes "selects no model": never pass on nothing
        raise GateError(str(exc).replace("--deeplab-models", "--models")) from None
    return selected
