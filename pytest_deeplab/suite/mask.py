"""A mask item's work: predict, then compare with (or, in update mode, write) the golden."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pytest_deeplab.catalogue.specs import ModelSpec
from pytest_deeplab.data.listing import ImageRef
from pytest_deeplab.errors import DeepLabFailure
from pytest_deeplab.files import sha256_file
from pytest_deeplab.golden.store import golden_metadata, runtime_differences, update_command
from pytest_deeplab.session import DeepLabSession
from pytest_deeplab.verdicts.diff_image import write_diff_image
from pytest_deeplab.verdicts.masks import MaskThresholds, compare_masks

Record = Callable[[str, Any], None]


class GoldenMismatch(DeepLabFailure):
    """Raised with a complete, human-readable report."""


def check_against_golden(
    deeplab: DeepLabSession, model: ModelSpec, ref: ImageRef, record: Record
) -> None:
    """Predict one golden image and hold the mask against its golden."""
    image = deeplab.prepared_image(ref.path, deeplab.input_size(model))
    mask = deeplab.predictor(model).predict(image)
    compare_with_golden(deeplab, model, ref.image_id, mask, record, image, ref.path)


def compare_with_golden(
    deeplab: DeepLabSession,
    model: ModelSpec,
    image_id: str,
    mask: np.ndarray,
    record: Record | None = None,
    image: np.ndarray | None = None,
    image_path: Path | None = None,
) -> None:
    """Compare (or in update mode, write) one golden; raise GoldenMismatch with the report."""
    record = record or (lambda name, value: None)
    label_set = deeplab.selection.label_set(model)
    results = deeplab.results[model.name]
    store = deeplab.golden_store(model)
    if deeplab.options.update_golden:
        write_golden(deeplab, model, image_id, mask, image, image_path)
        results.golden_written.append(image_id)
        record("deeplab_golden", "written")
        _report(deeplab, model, image_id, "written", mask, image, image_path)
        return
    golden = store.load(model.name, image_id)
    if golden is None:
        _report(deeplab, model, image_id, "no-golden", mask, image, image_path)
        raise GoldenMismatch(
            f"no golden mask for model {model.name} on image {image_id} (looked for "
            f"{store.png_path(model.name, image_id)}). Create it with:\n"
            f"    {update_command(model.name, image_id)}"
            + ("\n(CI is set: run that on a workstation and commit the golden, or add "
               "=force to write it here.)" if deeplab.options.in_ci else "")
        )
    expected_sha = golden.metadata.get("model_sha256")
    actual_sha = deeplab.model_sha256(model)
    if expected_sha != actual_sha:
        _report(deeplab, model, image_id, "model-changed", mask, image, image_path, golden)
        made_from = (f"was made from another file of model {model.name} (sha256 "
                     f"{expected_sha[:12]}…, this run has {actual_sha[:12]}…): the model changed"
                     if expected_sha else
                     f"does not say which file of model {model.name} made it (its metadata "
                     "has no model_sha256), so it cannot be tied to this model file")
        raise GoldenMismatch(
            f"the golden {golden.png_path} {made_from}, so its masks are not comparable. If the "
            "file is intended, refresh the goldens with:\n"
            f"    {update_command(model.name, image_id)}"
        )
    expected_image = golden.metadata.get("image_sha256")
    if image_path is not None and expected_image and expected_image != sha256_file(image_path):
        _report(deeplab, model, image_id, "image-changed", mask, image, image_path, golden)
        raise GoldenMismatch(
            f"the golden {golden.png_path} was made from another version of {image_path} "
            "(image sha256 differs). Refresh it with:\n"
            f"    {update_command(model.name, image_id)}"
        )
    thresholds = MaskThresholds(
        min_agreement=model.min_agreement, min_class_iou=model.min_class_iou
    )
    comparison = compare_masks(golden.mask, mask, label_set, thresholds)
    agreement = comparison.agreement if comparison.agreement is not None else 0.0
    results.agreements[image_id] = agreement
    record("deeplab_agreement", round(agreement, 6))
    record("deeplab_golden_tensorflow", golden.metadata.get("tensorflow"))
    if not comparison.passed:
        diff_path = deeplab.options.results_dir / model.name / f"{image_id}_diff.png"
        canvas = image if image is not None else np.zeros((*golden.mask.shape, 3), np.uint8)
        written = write_diff_image(canvas, golden.mask, mask, label_set, diff_path)
        _report(deeplab, model, image_id, "compared", mask, image, image_path, golden,
                comparison, written)
        from pytest_deeplab.explain.hint import explain_hint

        message = comparison.failure_message(model.name, image_id, written) + explain_hint(
            deeplab, model, image_path, golden.metadata)
        changed = runtime_differences(golden.metadata, deeplab.runtime_record(model))
        raise GoldenMismatch(message + (f"\n  note: {changed}" if changed else ""))
    _report(deeplab, model, image_id, "compared", mask, image, image_path, golden, comparison)


def _report(
    deeplab: DeepLabSession,
    model: ModelSpec,
    image_id: str,
    status: str,
    mask: np.ndarray,
    image: np.ndarray | None,
    image_path: Path | None,
    golden: Any = None,
    comparison: Any = None,
    diff_path: Path | None = None,
) -> None:
    """Keep what this item saw for the HTML report; nothing happens without --deeplab-report."""
    if deeplab.report is None:
        return
    from pytest_deeplab.report.collect import record_mask

    record_mask(deeplab, model, image_id, status, mask, image=image, image_path=image_path,
                golden=golden, comparison=comparison, diff_path=diff_path)


def write_golden(
    deeplab: DeepLabSession,
    model: ModelSpec,
    image_id: str,
    mask: np.ndarray,
    image: np.ndarray | None,
    image_path: Path | None,
) -> None:
    """Write a golden only if a second prediction agrees: a flaky golden is worse than none."""
    if image is not None:
        again = deeplab.predictor(model).predict(image)
        if not np.array_equal(mask, again):
            differing = int(np.count_nonzero(mask != again))
            raise GoldenMismatch(
                f"model {model.name} is not deterministic on {image_id}: two predictions in one "
                f"process differ in {differing} pixels, so no golden was written. Pin threads "
                "with --deeplab-threads=1 or set TF_DETERMINISTIC_OPS=1, then try again."
            )
    ident = deeplab.identity
    metadata = golden_metadata(
        model=model.name,
        model_sha256=deeplab.model_sha256(model),
        image=image_path.name if image_path else image_id,
        image_sha256=sha256_file(image_path) if image_path else "",
        label_set=model.label_set,
        tensorflow=ident["tensorflow"],
        onednn=ident["onednn"],
        threads=deeplab.options.threads,
        input_size=deeplab.input_size(model),
        runtime=deeplab.runtime_record(model),
        allow_ops=model.allow_ops,
    )
    deeplab.golden_store(model).save(model.name, image_id, mask, metadata,
                                     deeplab.selection.label_set(model))
