"""pytest hooks only: options, markers, the built-in suite's collection, fixtures, the summary.

This module must stay cheap to import: no TensorFlow here (it is loaded by runtime/ when an item
first needs a model), so `pytest --help` and unrelated test runs do not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_deeplab.fixtures import (  # noqa: F401  (registered as fixtures by import)
    deeplab_assert_golden,
    deeplab_benchmark,
    deeplab_model,
    deeplab_session,
    model_handle,
)
from pytest_deeplab.options import add_options, resolve_options
from pytest_deeplab.stash import (
    CARDS_KEY,
    GOLDENS_KEY,
    ITEMS_KEY,
    OPTIONS_KEY,
    RELEASE_KEY,
    REPORT_DONE_KEY,
    RESULTS_DONE_KEY,
    SESSION_KEY,
    get_deeplab_session,
)
from pytest_deeplab.suite.markers import MARKERS

if TYPE_CHECKING:
    from pytest_deeplab.catalogue.specs import ModelSpec
    from pytest_deeplab.session import DeepLabSession


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    """Markers and options only, unless models are selected: a project that has the plugin
    installed without asking for it runs exactly as it would without it."""
    for name, doc in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")
    options = resolve_options(config)
    if options.update_golden not in (None, "yes", "force"):
        raise pytest.UsageError(
            f"--deeplab-update-golden={options.update_golden}: the only value it takes is 'force'"
        )
    if options.update_golden == "yes" and options.in_ci:
        raise pytest.UsageError(
            "--deeplab-update-golden is refused because CI is set: goldens written in CI would "
            "bless whatever this run produced. Write them on a workstation and commit them, or "
            "pass --deeplab-update-golden=force if this is really meant."
        )
    config.stash[OPTIONS_KEY] = options
    if options.models is None:
        return  # installed but not asked: options, ini keys and markers only
    if options.require_pins and not config.getoption("help"):
        _require_pins(config)
    from pytest_deeplab.verdicts.record import ItemLog  # the one record of the run

    config.stash[ITEMS_KEY] = record = ItemLog()
    config.pluginmanager.register(record, "deeplab-items")


def _require_pins(config: pytest.Config) -> None:
    """--deeplab-require-pins is checked from the catalogue and the lock alone, so it is checked
    here, before xdist starts workers: the controller never collects, and a usage error raised
    in a worker's collection does not reach the terminal."""
    from pytest_deeplab.errors import FRIENDLY_ERRORS

    deeplab = get_deeplab_session(config)
    assert deeplab is not None  # models are selected
    try:
        deeplab.files.require_pins(deeplab.selected)
    except FRIENDLY_ERRORS as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Under --deeplab-shard: which of the selected models this job runs (or that it has none)."""
    options = config.stash[OPTIONS_KEY]
    if options.shard is None or options.models is None:
        return []
    try:
        deeplab = get_deeplab_session(config)
    except pytest.UsageError:
        return []  # raised again, with its message, at collection
    from pytest_deeplab.shards.plan import describe_shard

    if deeplab is None or deeplab.selection.plan is None:
        return []
    return describe_shard(deeplab.selection.plan, options.shard)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Add the built-in suite before -k / -m deselection runs, so both can pick from it."""
    deeplab = get_deeplab_session(config)
    if deeplab is None or _only_named_tests(config):
        return
    from pytest_deeplab.errors import FRIENDLY_ERRORS
    from pytest_deeplab.suite.collectors import DeepLabSuite

    try:
        deeplab.ensure_available()
    except FRIENDLY_ERRORS as exc:
        raise pytest.UsageError(str(exc)) from None
    suite = DeepLabSuite.from_parent(session, name="deeplab", nodeid="deeplab", deeplab=deeplab)
    items.extend(session.genitems(suite))
    deeplab.mark_collected()


def _only_named_tests(config: pytest.Config) -> bool:
    """`pytest tests/test_x.py` with `deeplab_models` in the ini runs just that file (its
    `deeplab_model` tests still get the models); --deeplab-models on the command line always
    adds the built-in suite."""
    options = config.stash[OPTIONS_KEY]
    return options.models_from_ini and config.args_source == pytest.Config.ArgsSource.ARGS


def pytest_collection_finish(session: pytest.Session) -> None:
    """Plan each model's release after the last item that needs it (after -k/-m deselection)."""
    deeplab = session.config.stash.get(SESSION_KEY, None)
    if deeplab is not None:
        from pytest_deeplab.suite.release import ReleasePlan

        names = [m.name for m in deeplab.selected]
        session.config.stash[RELEASE_KEY] = ReleasePlan(session.items, names)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Once the item's fixtures are torn down, release the models it was the last user of."""
    yield
    plan = item.config.stash.get(RELEASE_KEY, None)
    deeplab = item.config.stash.get(SESSION_KEY, None)
    if plan is not None and deeplab is not None:
        for name in plan.after(item):
            deeplab.release(name)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize users' tests over the selected models where the fixture they get is ours
    (`deeplab_model`, or `model_handle` under a name of the project's choosing); a project's
    own fixture of that name is left alone."""
    if metafunc.config.stash[OPTIONS_KEY].models is None:
        return
    names = [name for name in metafunc.fixturenames if _resolves_to_ours(metafunc, name)]
    if not names:
        return
    deeplab = get_deeplab_session(metafunc.config)
    models = [m.name for m in deeplab.selected] if deeplab is not None else []
    for name in names:
        metafunc.parametrize(name, models, indirect=True, ids=models)


def _resolves_to_ours(metafunc: pytest.Metafunc, name: str) -> bool:
    """Whether the fixture `name` resolves to `model_handle`, directly or through overrides
    that request the fixture they override (`def deeplab_model(deeplab_model): ...`)."""
    definitions = getattr(metafunc, "_arg2fixturedefs", {}).get(name, ())
    for definition in reversed(definitions):
        if definition.func is model_handle:
            return True
        if name not in definition.argnames:  # the project's own: ours is not reached
            return False
    return False


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail closed: a suite whose every item was skipped is an error, never a green run."""
    deeplab = session.config.stash.get(SESSION_KEY, None)
    record = session.config.stash.get(ITEMS_KEY, None)
    if _empty_shard(deeplab) and session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK  # more shards than models: this one has none
    if deeplab is not None:
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:  # an xdist worker: the controller prints the summary
            workeroutput["deeplab"] = deeplab.export()
        deeplab.close()
    vacuous = record is not None and record.fail_closed() is not None
    if vacuous and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if deeplab is not None and deeplab.collected and not hasattr(session.config, "workeroutput"):
        from pytest_deeplab.golden.prune import settle_unused_goldens

        options = session.config.stash[OPTIONS_KEY]
        session.config.stash[GOLDENS_KEY] = settle_unused_goldens(
            deeplab.selection, options.golden_dir, record.suite_ran() if record else 0,
            prune_asked=options.prune_golden)
    if deeplab is not None and deeplab.collected and not hasattr(session.config, "workeroutput"):
        _write_report(session, deeplab)
    if deeplab is not None and record is not None and not hasattr(session.config, "workerinput"):
        _write_results(session, deeplab)  # the controller's, with the workers' items in it


def _write_results(session: pytest.Session, deeplab: DeepLabSession) -> None:
    """This run's deeplab-run-K-of-N.json (shards/writer.py), after the exit status is final.
    Not under --collect-only: nothing ran, and the file would merge as a shard without items."""
    config = session.config
    if config.getoption("collectonly"):
        return
    from pytest_deeplab.shards.writer import write_run_results

    config.stash[RESULTS_DONE_KEY] = write_run_results(
        deeplab, items=config.stash[ITEMS_KEY].results(), exitstatus=int(session.exitstatus),
        command=_command(config), cards=config.stash.get(CARDS_KEY, None))


def _empty_shard(deeplab: DeepLabSession | None) -> bool:
    return deeplab is not None and deeplab.selection.plan is not None and not deeplab.selected


def _command(config: pytest.Config) -> str:
    return " ".join(["pytest", *config.invocation_params.args])


def _write_report(session: pytest.Session, deeplab: DeepLabSession) -> None:
    """The HTML report (--deeplab-report), on the controller, once workers' records are in."""
    config = session.config
    options = config.stash[OPTIONS_KEY]
    if options.report is None:
        return
    from pytest_deeplab.report.cards import build_cards, measure_card
    from pytest_deeplab.report.collect import OutcomeLog
    from pytest_deeplab.report.html import ReportError, write_report

    official = deeplab.catalogue.by_source("official")

    def measure(model: ModelSpec) -> Any:
        return measure_card(model, deeplab.model_file(model), official)

    config.stash[CARDS_KEY] = cards = build_cards(
        deeplab.selected, deeplab.results, measure if options.report_cards else None)
    try:
        log = OutcomeLog.from_items(config.stash[ITEMS_KEY].results())
        path = write_report(options.report, deeplab.run_record(cards), log,
                            command=_command(config), exitstatus=int(session.exitstatus))
    except (ReportError, OSError) as exc:
        config.stash[REPORT_DONE_KEY] = f"deeplab report NOT written ({options.report}): {exc}"
    else:
        config.stash[REPORT_DONE_KEY] = f"deeplab report: {path}"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under `--dist loadgroup`, one work unit per model, so each model is loaded once."""
    if config.getoption("dist", "no") != "loadgroup" or config.stash[OPTIONS_KEY].models is None:
        return None
    from pytest_deeplab.xdist import make_scheduler

    return make_scheduler(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: merge each worker's results into this process's summary."""
    data = getattr(node, "workeroutput", {}).get("deeplab")
    deeplab = get_deeplab_session(node.config)
    if data and deeplab is not None:
        deeplab.merge_worker(data)


@pytest.hookimpl(optionalhook=True)  # pytest-benchmark may be disabled (-p no:benchmark)
def pytest_benchmark_update_machine_info(
    config: pytest.Config, machine_info: dict[str, Any]
) -> None:
    """Saved runs carry TF version, oneDNN flag, threads and CPU (runtime/identity.py), when
    models are selected: other projects' saved runs stay comparable with their baselines."""
    options = config.stash.get(OPTIONS_KEY, None)
    if options is None or options.models is None:
        return
    from pytest_deeplab.suite.machine_info import update_machine_info

    deeplab = get_deeplab_session(config)
    if deeplab is not None:
        update_machine_info(machine_info, deeplab, options.threads)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    deeplab = config.stash.get(SESSION_KEY, None)
    if deeplab is None:
        return
    record = config.stash.get(ITEMS_KEY, None)
    if deeplab.collected and record is not None and record.suite_ran():  # else nothing ran
        from pytest_deeplab.report.summary import write_summary

        write_summary(terminalreporter, deeplab.run_record(), record,
                      config.stash.get(GOLDENS_KEY, None), deeplab.options.rootdir)
    elif deeplab.selection.plan is not None and not deeplab.selected:  # an empty shard
        from pytest_deeplab.shards.plan import describe_shard

        assert deeplab.options.shard is not None  # there is a plan
        for line in describe_shard(deeplab.selection.plan, deeplab.options.shard):
            terminalreporter.write_line(line)
    for key in (REPORT_DONE_KEY, RESULTS_DONE_KEY):
        if key in config.stash:
            line = config.stash[key]
            terminalreporter.write_line(line, red=" NOT written" in line)
