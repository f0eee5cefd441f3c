"""The official zoo as the catalogue knows it: every entry well-formed, the 8-bit and EdgeTPU
models listed with their published figures, and archive members given as patterns resolved when
the archive is extracted (against a loopback zoo, no network).

Expected values are typed from DeepLab's g3doc/quantize.md and g3doc/model_zoo.md, never read
back from the catalogue under test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from zoo_server import ZooServer, graph_bytes, zoo_tarball

from pytest_deeplab.catalogue.official import OFFICIAL_MODELS
from pytest_deeplab.catalogue.specs import FORMATS, ModelSpec
from pytest_deeplab.data.labelsets import get_label_set
from pytest_deeplab.modelcard.card import comparable_billions

SCRIPT = Path(sys.executable).with_name("pytest-deeplab")
BY_NAME = {m.name: m for m in OFFICIAL_MODELS}
ZOO = "http://download.tensorflow.org/models/"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The console script as users type it. download.tensorflow.org is made unreachable (a proxy
    on a closed port; the loopback zoo is exempt) so no test depends on, or uses, the network."""
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "pytest_deeplab.cli"]
    closed = "http://127.0.0.1:9"
    env = {**os.environ, "HTTP_PROXY": closed, "HTTPS_PROXY": closed, "NO_PROXY": "127.0.0.1"}
    env.pop("PYTEST_DEEPLAB_CACHE", None)
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=cwd, timeout=120,
                          env=env)


# -- every entry ------------------------------------------------------------------------------


@pytest.mark.parametrize("model", OFFICIAL_MODELS, ids=lambda m: m.name)
def test_every_official_entry_is_well_formed(model: ModelSpec) -> None:
    assert model.source == "official" and model.format in FORMATS
    get_label_set(model.label_set)  # raises for an unknown one
    assert model.url is not None and model.url.startswith(("http://", "https://"))
    archive = model.url.endswith(".tar.gz")
    assert (model.member is not None) == archive, "archives name a member, plain files do not"
    if model.member is not None:
        suffix = {"frozen_graph": ".pb", "tflite": ".tflite"}[model.format]
        assert model.member.endswith(suffix)
    assert model.input_size in (257, 513, 2048)
    assert model.input_tensor and model.output_tensor


def test_official_names_are_unique() -> None:
    assert len(BY_NAME) == len(OFFICIAL_MODELS)


# -- what was added ---------------------------------------------------------------------------

QUANTIZED = {
    # name: (tarball, format, member, input, output, published mIOU, MAdds, file size)
    "mobilenetv2_coco_voc_trainaug_8bit": (
        "deeplabv3_mnv2_pascal_train_aug_8bit_2019_04_26", "frozen_graph",
        "frozen_inference_graph.pb", "ImageTensor:0", "SemanticPredictions:0",
        "74.26% (val)", 2.75e9, "24MB"),
    "mobilenetv2_coco_voc_trainaug_8bit_tflite": (
        "deeplabv3_mnv2_pascal_train_aug_8bit_2019_04_26", "tflite",
        "frozen_inference_graph.tflite", "MobilenetV2/MobilenetV2/input", "ArgMax",
        "74.26% (val)", 2.75e9, "2.2MB"),
    "mobilenetv2_dm05_coco_voc_trainaug_8bit": (
        "deeplabv3_mnv2_dm05_pascal_train_aug_8bit_2019_04_26", "frozen_graph",
        "frozen_inference_graph.pb", "ImageTensor:0", "SemanticPredictions:0",
        "69.65% (val)", 0.88e9, "8.2MB"),
    "mobilenetv2_dm05_coco_voc_trainaug_8bit_tflite": (
        "deeplabv3_mnv2_dm05_pascal_train_aug_8bit_2019_04_26", "tflite",
        "frozen_inference_graph.tflite", "MobilenetV2/MobilenetV2/input", "ArgMax",
        "69.65% (val)", 0.88e9, "751.1KB"),
}


@pytest.mark.parametrize("name", sorted(QUANTIZED))
def test_the_8bit_pascal_models_are_catalogued_in_both_formats(name: str) -> None:
    tarball, fmt, member, inp, out, miou, madds, size = QUANTIZED[name]
    model = BY_NAME[name]
    assert model.url == f"{ZOO}{tarball}.tar.gz"
    assert (model.format, model.member) == (fmt, member)
    assert (model.input_tensor, model.output_tensor) == (inp, out)
    assert (model.label_set, model.input_size) == ("pascal", 513)
    f = model.facts
    assert (f.eval_output_stride, f.published_miou, f.multiply_adds, f.file_size) == (
        16, miou, madds, size)
    assert "8-bit" in f.backbone and f.aspp is False and f.decoder is False


def test_each_8bit_archive_is_exposed_as_a_graph_and_as_tflite() -> None:
    for tarball in {v[0] for v in QUANTIZED.values()}:
        formats = sorted(m.format for m in OFFICIAL_MODELS if m.url == f"{ZOO}{tarball}.tar.gz")
        assert formats == ["frozen_graph", "tflite"], tarball


@pytest.mark.parametrize(
    ("name", "tarball", "backbone", "miou", "madds"),
    [
        ("edgetpu_deeplab_cityscapes", "edgetpu-deeplab_2020_03_09", "EdgeTPU-MobileNet 1.0",
         "70.6% / 74.1% (val, OS 32 / 16)", (5.6e9, "OS 32; 7.1B at OS 16")),
        ("edgetpu_deeplab_slim_cityscapes", "edgetpu-deeplab-slim_2020_03_09",
         "EdgeTPU-MobileNet 0.75", "70.0% / 73.2% (val, OS 32 / 16)",
         (3.5e9, "OS 32; 4.3B at OS 16")),
    ],
)
def test_the_edgetpu_cityscapes_models_take_the_archives_only_graph(
    name: str, tarball: str, backbone: str, miou: str, madds: tuple[float, str]
) -> None:
    model = BY_NAME[name]
    assert model.url == f"{ZOO}{tarball}.tar.gz"
    assert (model.format, model.member) == ("frozen_graph", "*.pb")
    assert (model.label_set, model.input_size) == ("cityscapes", 2048)
    f = model.facts
    assert (f.backbone, f.published_miou, (f.multiply_adds, f.multiply_adds_note)) == (
        backbone, miou, madds)
    assert f.eval_output_stride is None  # published at two strides: no single one is claimed
    assert comparable_billions(f) is None  # so a card never compares against one


def test_cityscapes_entries_feed_full_2048_wide_frames() -> None:
    cityscapes = [m for m in OFFICIAL_MODELS if m.label_set == "cityscapes"]
    assert len(cityscapes) == 8
    assert {m.input_size for m in cityscapes} == {2048}


def test_list_shows_the_new_models(tmp_path: Path) -> None:
    result = cli("list", f"--cache-dir={tmp_path / 'cache'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    for name, (_, fmt, *_rest) in QUANTIZED.items():
        assert rows[name].split()[1:5] == ["official", fmt, "pascal", "513"], rows[name]
        assert QUANTIZED[name][5] in rows[name]
    for name in ("edgetpu_deeplab_cityscapes", "edgetpu_deeplab_slim_cityscapes"):
        assert rows[name].split()[1:5] == ["official", "frozen_graph", "cityscapes", "2048"]
        assert "(val, OS 32 / 16)" in rows[name]
    assert rows["mobilenetv2_coco_cityscapes_trainfine"].split()[4] == "2048"


# -- members resolved at extraction, through the loopback zoo -----------------------------------


@pytest.fixture
def zoo() -> Iterator[ZooServer]:
    with ZooServer(request_timeout=5, stall_seconds=3) as server:
        yield server


def fetch_cli(zoo: ZooServer, tmp_path: Path, *names: str) -> subprocess.CompletedProcess[str]:
    """`pytest-deeplab fetch` as a user runs it, with the loopback zoo as the mirror."""
    return cli("fetch", *names, f"--mirror={zoo.base_url}", f"--cache-dir={tmp_path / 'cache'}",
               cwd=tmp_path)


def fetched_paths(result: subprocess.CompletedProcess[str]) -> dict[str, Path]:
    lines = [line for line in result.stdout.splitlines() if line.startswith("ok ")]
    return {line.split()[1].rstrip(":"): Path(line.split(": ", 1)[1]) for line in lines}


def test_a_pattern_member_takes_the_archives_only_match(zoo: ZooServer, tmp_path: Path) -> None:
    graph = graph_bytes(seed=7)
    zoo.add("edgetpu-deeplab_2020_03_09.tar.gz", zoo_tarball("edgetpu-deeplab", {
        "model.ckpt.index": b"index", "model.ckpt.data-00000-of-00001": b"weights",
        "frozen_inference_graph_os16.pb": graph,
    }))
    result = fetch_cli(zoo, tmp_path, "edgetpu_deeplab_cityscapes")
    assert result.returncode == 0, result.stderr
    path = fetched_paths(result)["edgetpu_deeplab_cityscapes"]
    assert path.name == "frozen_inference_graph_os16.pb" and path.read_bytes() == graph
    # the cache entry, found again by its pattern, without asking the zoo a second time
    again = cli("fetch", "edgetpu_deeplab_cityscapes", "--offline",
                f"--cache-dir={tmp_path / 'cache'}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert fetched_paths(again)["edgetpu_deeplab_cityscapes"] == path
    assert zoo.hits["edgetpu-deeplab_2020_03_09.tar.gz"] == 1


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"model.ckpt.index": b"index"}, "the archive has no file matching '*.pb'"),
        ({"a.pb": graph_bytes(seed=1), "export/b.pb": graph_bytes(seed=2)},
         "the archive has 2 files matching '*.pb' (edgetpu-deeplab-slim/a.pb, "
         "edgetpu-deeplab-slim/export/b.pb), so which one is the model is unclear; set the "
         "model's `member` to one of them"),
    ],
    ids=["none", "two"],
)
def test_a_pattern_member_with_no_or_several_matches_fails_saying_so(
    zoo: ZooServer, tmp_path: Path, files: dict[str, bytes], message: str
) -> None:
    zoo.add("edgetpu-deeplab-slim_2020_03_09.tar.gz", zoo_tarball("edgetpu-deeplab-slim", files))
    result = fetch_cli(zoo, tmp_path, "edgetpu_deeplab_slim_cityscapes")
    assert result.returncode == 1
    assert "FAILED edgetpu_deeplab_slim_cityscapes" in result.stderr
    assert message in result.stderr, result.stderr


def test_one_8bit_archive_gives_the_graph_to_one_entry_and_the_tflite_to_the_other(
    zoo: ZooServer, tmp_path: Path
) -> None:
    graph, tflite = graph_bytes(seed=3), graph_bytes(seed=4)
    zoo.add("deeplabv3_mnv2_dm05_pascal_train_aug_8bit_2019_04_26.tar.gz", zoo_tarball(
        "deeplabv3_mnv2_dm05_pascal_train_aug_8bit_2019_04_26", {
            "frozen_inference_graph.pb": graph, "frozen_inference_graph.tflite": tflite,
            "model.ckpt.index": b"index",
        }))
    result = fetch_cli(zoo, tmp_path, "mobilenetv2_dm05_coco_voc_trainaug_8bit*")
    assert result.returncode == 0, result.stderr
    paths = fetched_paths(result)
    assert paths["mobilenetv2_dm05_coco_voc_trainaug_8bit"].read_bytes() == graph
    assert paths["mobilenetv2_dm05_coco_voc_trainaug_8bit_tflite"].read_bytes() == tflite
    assert paths["mobilenetv2_dm05_coco_voc_trainaug_8bit_tflite"].suffix == ".tflite"
