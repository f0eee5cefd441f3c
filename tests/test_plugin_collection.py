"""The plugin as a user first meets it: options in --help, no TensorFlow import unless a model
runs, which items `--deeplab-models` collects, and selections that must never be a green run."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from conftest import SMALL, DeepLabPytester, minizoo_manifest

from pytest_deeplab.data.listing import list_images

OPTIONS = (
    "--deeplab-models=SPEC",
    "--deeplab-update-golden",
    "--deeplab-golden-dir=DIR",
    "--deeplab-cache-dir=DIR",
    "--deeplab-mirror=URL|DIR",
    "--deeplab-offline",
    "--deeplab-allow-missing",
    "--deeplab-config=FILE",
    "--deeplab-results-dir=DIR",
    "--deeplab-update-lock",
    "--deeplab-require-pins",
    "--deeplab-threads=N",
)


def golden_image_ids() -> list[str]:
    """The bundled golden images, as the suite names them."""
    from conftest import FIXTURES

    return [ref.image_id for ref in list_images(FIXTURES / minizoo_manifest()["golden_images"])]


def expected_ids(model: str = SMALL) -> list[str]:
    return [
        *(f"deeplab::{model}::{image}::mask" for image in golden_image_ids()),
        f"deeplab::{model}::miou",
        f"deeplab::{model}::latency",
    ]


def collected(result: pytest.RunResult) -> list[str]:
    """Node ids printed by `--collect-only -q`."""
    return [line for line in result.outlines if "::" in line and not line.startswith(" ")]


# -- the front door -----------------------------------------------------------------------------


def test_help_lists_every_deeplab_option(deeplab: DeepLabPytester) -> None:
    result = deeplab.pytester.runpytest("--help")
    assert result.ret == 0
    out = result.stdout.str()
    assert "DeepLab model regression suite (pytest-deeplab)" in out
    missing = [option for option in OPTIONS if option not in out]
    assert not missing, f"--help does not list {missing}"
    assert "deeplab_models" in out  # the ini key


def test_importing_the_plugin_does_not_import_tensorflow() -> None:
    code = (
        "import sys, pytest_deeplab.plugin; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tensorflow'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_an_unrelated_test_run_does_not_import_tensorflow(deeplab: DeepLabPytester) -> None:
    deeplab.pytester.makeconftest(
        """
        import sys

        def pytest_unconfigure(config):
            print(f"DEEPLAB-ACTIVE={config.pluginmanager.has_plugin('deeplab')}")
            print(f"TENSORFLOW-IMPORTED={'tensorflow' in sys.modules}")
        """
    )
    deeplab.pytester.makepyfile(test_unrelated="def test_one():\n    assert 1 + 1 == 2\n")
    result = deeplab.run_subprocess("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["DEEPLAB-ACTIVE=True", "TENSORFLOW-IMPORTED=False"])


def test_the_plugin_is_active_through_its_entry_point(deeplab: DeepLabPytester) -> None:
    deeplab.pytester.makepyfile(
        """
        def test_plugin(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("deeplab")
            assert pytestconfig.getoption("deeplab_models") is None
        """
    )
    deeplab.run().assert_outcomes(passed=1)


# -- collection -----------------------------------------------------------------------------------


def test_without_deeplab_models_nothing_is_added(deeplab: DeepLabPytester) -> None:
    deeplab.pytester.makepyfile(test_mine="def test_mine():\n    pass\n")
    result = deeplab.run("--collect-only", "-q")
    assert collected(result) == ["test_mine.py::test_mine"]
    assert "deeplab" not in result.stdout.str()


def test_collect_only_lists_readable_ids(deeplab: DeepLabPytester) -> None:
    result = deeplab.run(f"--deeplab-models={SMALL}", "--collect-only", "-q")
    assert result.ret == 0
    assert len(golden_image_ids()) >= 2
    assert collected(result) == expected_ids()


def test_marker_selects_the_miou_slice(deeplab: DeepLabPytester) -> None:
    result = deeplab.run(f"--deeplab-models={SMALL}", "-m", "deeplab_miou", "--collect-only", "-q")
    assert collected(result) == [f"deeplab::{SMALL}::miou"]


def test_marker_selects_the_mask_slice(deeplab: DeepLabPytester) -> None:
    result = deeplab.run(f"--deeplab-models={SMALL}", "-m", "deeplab_mask", "--collect-only", "-q")
    assert collected(result) == expected_ids()[:-2]


def test_keyword_selects_one_image(deeplab: DeepLabPytester) -> None:
    image = golden_image_ids()[1]
    result = deeplab.run(
        f"--deeplab-models={SMALL}", "-k", f"{image} and mask", "--collect-only", "-q"
    )
    assert collected(result) == [f"deeplab::{SMALL}::{image}::mask"]


def test_keyword_deselects_latency(deeplab: DeepLabPytester) -> None:
    result = deeplab.run(f"--deeplab-models={SMALL}", "-k", "not latency", "--collect-only", "-q")
    assert collected(result) == expected_ids()[:-1]


def test_ini_deeplab_models_selects(deeplab: DeepLabPytester) -> None:
    deeplab.configure(ini=f'deeplab_models = "{SMALL}"')
    result = deeplab.run("--collect-only", "-q")
    assert collected(result) == expected_ids()


def test_bundled_selects_every_bundled_model(deeplab: DeepLabPytester) -> None:
    result = deeplab.run("--deeplab-models=bundled", "-m", "deeplab_miou", "--collect-only", "-q")
    names = [m["name"] for m in minizoo_manifest()["models"]]
    assert SMALL in names
    assert collected(result) == [f"deeplab::{name}::miou" for name in names]


# -- selections that would test nothing are errors ---------------------------------------------


def test_unknown_model_is_a_usage_error_with_a_suggestion(deeplab: DeepLabPytester) -> None:
    result = deeplab.run("--deeplab-models=mini_mnv2_os61", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown model 'mini_mnv2_os61'. Did you mean mini_mnv2_os16*"])


def test_one_typo_among_good_names_still_fails(deeplab: DeepLabPytester) -> None:
    result = deeplab.run(f"--deeplab-models={SMALL},mobilenetv2_coco_voc_trainaugg",
                         "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*Did you mean mobilenetv2_coco_voc_trainaug*"])


def test_glob_matching_nothing_is_an_error(deeplab: DeepLabPytester) -> None:
    result = deeplab.run("--deeplab-models=nothing_like_this_*", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pattern 'nothing_like_this_*' matches no model*"])


def test_a_glob_selects_by_pattern(deeplab: DeepLabPytester) -> None:
    result = deeplab.run("--deeplab-models=mini_mnv2_os1?", "-m", "deeplab_miou",
                         "--collect-only", "-q")
    assert collected(result) == [f"deeplab::{SMALL}::miou"]


def test_user_without_user_models_is_an_error(deeplab: DeepLabPytester) -> None:
    result = deeplab.run("--deeplab-models=user", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--deeplab-models='user' selects no model*nothing would be tested*"]
    )


def test_empty_selection_is_an_error(deeplab: DeepLabPytester) -> None:
    deeplab.configure(ini='deeplab_models = " , "')
    result = deeplab.run("--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "selects no model" in result.stderr.str()


def test_collection_alone_does_not_import_tensorflow(deeplab: DeepLabPytester) -> None:
    deeplab.pytester.makeconftest(
        textwrap.dedent(
            """
            import sys

            def pytest_unconfigure(config):
                print(f"TENSORFLOW-IMPORTED={'tensorflow' in sys.modules}")
            """
        )
    )
    result = deeplab.run_subprocess(f"--deeplab-models={SMALL}", "--collect-only", "-q", "-s")
    assert result.ret == 0
    assert "TENSORFLOW-IMPORTED=False" in result.stdout.str()
