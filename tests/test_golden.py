"""The golden store: indexed PNG + JSON per (model, image), fallbacks, corruption, atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pytest_deeplab.data.labelsets import get_label_set
from pytest_deeplab.files import sha256_file
from pytest_deeplab.golden import store as golden_module
from pytest_deeplab.golden.store import (
    GoldenError,
    GoldenStore,
    golden_metadata,
    mask_sha256,
    update_command,
)

PASCAL = get_label_set("pascal")


def a_mask(seed: int = 0, shape: tuple[int, int] = (12, 16)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 21, shape).astype(np.uint8)


def metadata(**changes: object) -> dict[str, object]:
    record = golden_metadata(
        model="mnv2",
        model_sha256="ab" * 32,
        image="image01.jpg",
        image_sha256="cd" * 32,
        label_set="pascal",
        tensorflow="2.21.0",
        onednn=True,
        threads=2,
        input_size=513,
    )
    record.update(changes)
    return record


@pytest.fixture
def store(tmp_path: Path) -> GoldenStore:
    return GoldenStore(tmp_path / "golden")


def test_save_then_load_round_trips(store: GoldenStore) -> None:
    mask = a_mask()
    store.save("mnv2", "image01", mask, metadata(), PASCAL)
    golden = store.load("mnv2", "image01")
    assert golden is not None
    np.testing.assert_array_equal(golden.mask, mask)
    assert golden.png_path == store.root / "mnv2" / "image01.png"
    assert golden.json_path == store.root / "mnv2" / "image01.json"
    assert not golden.read_only


def test_metadata_schema(store: GoldenStore) -> None:
    store.save("mnv2", "image01", a_mask(), metadata(), PASCAL)
    record = json.loads((store.root / "mnv2" / "image01.json").read_text())
    assert record["shape"] == [12, 16]
    assert record["preprocessing"] == {"input_size": 513, "resample": "lanczos", "exif": "ignored"}
    assert record["onednn"] is True and record["threads"] == 2
    assert record["tensorflow"] == "2.21.0" and record["label_set"] == "pascal"
    assert {"model", "model_sha256", "image", "image_sha256", "plugin_version", "created"} <= set(
        record
    )


def test_png_is_indexed_with_the_label_set_palette(store: GoldenStore) -> None:
    store.save("mnv2", "image01", a_mask(), metadata(), PASCAL)
    with Image.open(store.root / "mnv2" / "image01.png") as image:
        assert image.mode == "P"
        assert image.getpalette()[3:6] == [128, 0, 0]  # aeroplane


def test_missing_golden_is_none(store: GoldenStore) -> None:
    assert store.load("mnv2", "nothing") is None


def test_comparison_uses_decoded_arrays_not_png_bytes(store: GoldenStore) -> None:
    """Re-encoding the PNG differently (other compression) changes bytes, not the golden."""
    mask = a_mask()
    store.save("mnv2", "image01", mask, metadata(), PASCAL)
    png = store.root / "mnv2" / "image01.png"
    before = png.read_bytes()
    with Image.open(png) as image:
        image.save(png, compress_level=0)
    assert png.read_bytes() != before
    golden = store.load("mnv2", "image01")
    assert golden is not None
    np.testing.assert_array_equal(golden.mask, mask)


def test_root_wins_over_fallbacks_which_are_read_only(tmp_path: Path) -> None:
    shipped = GoldenStore(tmp_path / "shipped")
    shipped.save("mini", "scene01", a_mask(1), metadata(), PASCAL)
    shipped.save("mini", "scene02", a_mask(2), metadata(), PASCAL)
    store = GoldenStore(tmp_path / "local", fallbacks=[tmp_path / "shipped"])
    store.save("mini", "scene01", a_mask(3), metadata(), PASCAL)

    local = store.load("mini", "scene01")
    packaged = store.load("mini", "scene02")
    assert local is not None and packaged is not None
    np.testing.assert_array_equal(local.mask, a_mask(3))
    assert packaged.read_only and packaged.png_path.parent.parent == tmp_path / "shipped"
    assert store.entries() == {("mini", "scene01")}
    assert store.entries(root_only=False) == {("mini", "scene01"), ("mini", "scene02")}


def test_bad_png_names_the_file_and_the_fix(store: GoldenStore) -> None:
    store.save("mnv2", "image01", a_mask(), metadata(), PASCAL)
    png = store.root / "mnv2" / "image01.png"
    png.write_bytes(png.read_bytes()[:40])
    with pytest.raises(GoldenError) as info:
        store.load("mnv2", "image01")
    message = str(info.value)
    assert str(png) in message
    assert "pytest --deeplab-models=mnv2 --deeplab-update-golden -k 'mnv2 and image01'" in message


def test_bad_json(store: GoldenStore) -> None:
    store.save("mnv2", "image01", a_mask(), metadata(), PASCAL)
    (store.root / "mnv2" / "image01.json").write_text("{not json")
    with pytest.raises(GoldenError, match=r"image01\.json: is not valid JSON"):
        store.load("mnv2", "image01")


def test_shape_mismatch_between_json_and_png(store: GoldenStore) -> None:
    store.save("mnv2", "image01", a_mask(), metadata(), PASCAL)
    json_path = store.root / "mnv2" / "image01.json"
    record = json.loads(json_path.read_text())
    record["shape"] = [16, 12]
    json_path.write_text(json.dumps(record))
    with pytest.raises(GoldenError) as info:
        store.load("mnv2", "image01")
    assert "is 12 x 16 but image01.json says 16 x 12 (height x width)" in str(info.value)
    assert "--deeplab-update-golden" in str(info.value)


def test_png_replaced_behind_the_json_is_detected(store: GoldenStore) -> None:
    store.save("mnv2", "image01", a_mask(1), metadata(), PASCAL)
    Image.fromarray(a_mask(2)).save(store.root / "mnv2" / "image01.png")
    with pytest.raises(GoldenError, match="mask_sha256 differs"):
        store.load("mnv2", "image01")


def test_half_a_golden_is_an_error_not_a_missing_golden(store: GoldenStore) -> None:
    store.save("mnv2", "image01", a_mask(), metadata(), PASCAL)
    (store.root / "mnv2" / "image01.json").unlink()
    with pytest.raises(GoldenError, match=r"image01\.json: is missing although image01\.png"):
        store.load("mnv2", "image01")


def test_failure_mid_save_leaves_the_old_golden_intact(
    store: GoldenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = a_mask(1)
    store.save("mnv2", "image01", old, metadata(tensorflow="2.15.1"), PASCAL)

    def broken_png(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(golden_module, "save_mask_png", broken_png)
    with pytest.raises(OSError, match="disk full"):
        store.save("mnv2", "image01", a_mask(2), metadata(tensorflow="2.21.0"), PASCAL)
    monkeypatch.undo()

    golden = store.load("mnv2", "image01")
    assert golden is not None
    np.testing.assert_array_equal(golden.mask, old)
    assert golden.metadata["tensorflow"] == "2.15.1"


def test_failure_writing_the_json_is_detected_on_load(
    store: GoldenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PNG written, JSON not: the stale JSON no longer matches and load says so."""
    store.save("mnv2", "image01", a_mask(1), metadata(), PASCAL)
    real_write = golden_module.write_atomically

    def fail_on_json(path: Path, write: object) -> Path:
        if Path(path).suffix == ".json":
            raise OSError("killed")
        return real_write(path, write)  # type: ignore[arg-type]

    monkeypatch.setattr(golden_module, "write_atomically", fail_on_json)
    with pytest.raises(OSError, match="killed"):
        store.save("mnv2", "image01", a_mask(2), metadata(), PASCAL)
    monkeypatch.undo()
    with pytest.raises(GoldenError, match="update interrupted"):
        store.load("mnv2", "image01")
    assert sorted(p.name for p in (store.root / "mnv2").iterdir()) == [
        "image01.json",
        "image01.png",
    ]


def test_unused_lists_only_root_files_of_the_selected_models(tmp_path: Path) -> None:
    GoldenStore(tmp_path / "shipped").save("mini", "old", a_mask(), metadata(), PASCAL)
    store = GoldenStore(tmp_path / "g", fallbacks=[tmp_path / "shipped"])
    for model, image_id in [("a", "x"), ("a", "y"), ("b", "x")]:
        store.save(model, image_id, a_mask(), metadata(), PASCAL)

    unused = store.unused({("a", "x")})
    assert [p.relative_to(store.root).as_posix() for p in unused] == ["a/y.json", "a/y.png"]
    everywhere = store.unused({("a", "x")}, models=store.models())
    assert len(everywhere) == 4  # b's goldens too, never the shipped ones
    assert all(store.root in p.parents for p in everywhere)


def test_names_that_would_escape_the_store_are_refused(store: GoldenStore) -> None:
    for bad in ("../x", "a/b", "", ".hidden"):
        with pytest.raises(ValueError, match="cannot name a golden file"):
            store.save("mnv2", bad, a_mask(), metadata(), PASCAL)


def test_hashes(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    assert sha256_file(path) == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert mask_sha256(np.zeros((2, 3), np.uint8)) != mask_sha256(np.zeros((3, 2), np.uint8))


def test_update_command_is_copy_pasteable() -> None:
    assert (
        update_command("m", "i") == "pytest --deeplab-models=m --deeplab-update-golden -k 'm and i'"
    )
