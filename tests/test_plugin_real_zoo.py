"""The real DeepLab artefacts in ../shared/real-zoo, declared as a user declares their models.

Skipped, with the reason, on machines without them."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from conftest import REAL_DM05, REAL_ZOO, REPO, DeepLabPytester, requires_real_zoo

pytestmark = requires_real_zoo

MODEL = "real-dm05"


def declare(project: DeepLabPytester, aeroplane: float) -> None:
    project.configure(
        models={
            MODEL: {
                "path": REAL_DM05,
                "format": "frozen_graph",
                "dataset": "voc-one",
                "label_set": "pascal",
                "input_size": 513,
                "golden_images": REAL_ZOO / "images" / "image*.jpg",
                "min_iou_per_class": {"aeroplane": aeroplane},
            }
        },
        datasets={
            "voc-one": {
                "images": REAL_ZOO / "images" / "2007_000033*.jpg",
                "labels": REAL_ZOO / "images",
                "label_suffix": "_SegmentationClass",
                "label_set": "pascal",
            }
        },
    )


def test_dm05_scores_aeroplane_iou_above_085_on_2007_000033(deeplab: DeepLabPytester) -> None:
    declare(deeplab, aeroplane=0.85)
    junit = deeplab.path / "junit.xml"
    result = deeplab.run(f"--deeplab-models={MODEL}", "-m", "deeplab_miou",
                         f"--junitxml={junit}")
    result.assert_outcomes(passed=1)
    props = {p.get("name"): p.get("value") for p in ET.parse(junit).getroot().iter("property")}
    assert float(props["deeplab_iou[aeroplane]"]) >= 0.85
    assert props["deeplab_miou_images"] == "1"


def test_dm05_aeroplane_iou_is_not_perfect(deeplab: DeepLabPytester) -> None:
    """The same check with an unreachable minimum fails, naming the class and its IoU."""
    declare(deeplab, aeroplane=0.99)
    result = deeplab.run(f"--deeplab-models={MODEL}", "-m", "deeplab_miou")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*IoU of aeroplane is 0.*, below 0.99*"])


def test_the_ci_real_zoo_configuration_passes_against_its_goldens(
    deeplab: DeepLabPytester,
) -> None:
    """ci/real-zoo.toml as `.ci/run` uses it: four real models (a frozen graph and three TF
    Lite models: float, uint8-quantized, dynamic-range ADE20K), masks and mIOU. The ADE20K
    model has no labelled photo: its mIOU item skips, the run is still green."""
    result = deeplab.run(
        f"--deeplab-config={REPO / 'ci' / 'real-zoo.toml'}", "--deeplab-models=user",
        f"--deeplab-golden-dir={REPO / 'ci' / 'real-zoo-golden'}", "--benchmark-disable",
        "-m", "not deeplab_latency", "-rs",
    )
    result.assert_outcomes(passed=4 * 2 + 3, skipped=1)
    result.stdout.fnmatch_lines([
        "real-mnv2-dm05 *0.9* >= 0.92 ok *100.000 %*",
        "real-deeplabv3-tflite *0.8* >= 0.85 ok *100.000 %*",
        "real-pascal-quant-tflite *0.9* >= 0.91 ok *100.000 %*",
        "real-ade20k-tflite * - *100.000 %*",
        "SKIPPED * model real-ade20k-tflite has no labelled dataset*",
    ])
    assert result.ret == pytest.ExitCode.OK
