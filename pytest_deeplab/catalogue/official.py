"""The official DeepLab model zoo (g3doc/model_zoo.md, quantize.md) and its TF Lite model.

Published figures are kept beside each entry (`ZooFacts`) to show next to what we measure; they are
never used as thresholds.
"""

from __future__ import annotations

from pytest_deeplab.catalogue.specs import ModelSpec, ZooFacts

ZOO_BASE_URL = "http://download.tensorflow.org/models/"
TFLITE_BASE_URL = "https://storage.googleapis.com/download.tensorflow.org/models/tflite/gpu/"


def _zoo(
    name: str,
    tarball: str,
    label_set: str,
    input_size: int,
    facts: ZooFacts,
    sha384: str | None = None,
    size: int | None = None,
    *,
    format: str = "frozen_graph",
    member: str = "frozen_inference_graph.pb",
    input_tensor: str | None = "ImageTensor:0",  # every zoo export names its tensors so
    output_tensor: str | None = "SemanticPredictions:0",
) -> ModelSpec:
    return ModelSpec(
        name=name,
        format=format,
        label_set=label_set,
        input_size=input_size,
        source="official",
        url=f"{ZOO_BASE_URL}{tarball}.tar.gz",
        member=member,
        sha384=sha384,
        size=size,
        input_tensor=input_tensor,
        output_tensor=output_tensor,
        facts=facts,
    )


# g3doc/quantize.md: 8-bit quantization-aware MobileNet-v2 PASCAL models. Each archive holds a
# frozen graph (frozen_inference_graph.pb, exported by export_model.py, so ImageTensor:0 uint8 in,
# SemanticPredictions:0 out) and its TF Lite conversion (frozen_inference_graph.tflite, made by
# convert_to_tflite.py: input MobilenetV2/MobilenetV2/input, uint8 [1,513,513,3] quantized with
# mean 127.5 and std 127.5, no resize or padding inside; output ArgMax, class ids [1,513,513]).
# Both formats are catalogued; the `_tflite` entry takes the archive's .tflite.
_MNV2_8BIT, _MNV2_DM05_8BIT = "MobileNet-v2 (8-bit QAT)", "MobileNet-v2 x0.5 (8-bit QAT)"
_QUANT_IN, _QUANT_OUT = "MobilenetV2/MobilenetV2/input", "ArgMax"
_QUANTIZED_8BIT: tuple[ModelSpec, ...] = (
    _zoo("mobilenetv2_coco_voc_trainaug_8bit", "deeplabv3_mnv2_pascal_train_aug_8bit_2019_04_26",
         "pascal", 513, ZooFacts(_MNV2_8BIT, 16, "74.26% (val)", 2.75e9, "", "24MB",
                                 False, False)),
    _zoo("mobilenetv2_coco_voc_trainaug_8bit_tflite",
         "deeplabv3_mnv2_pascal_train_aug_8bit_2019_04_26",
         "pascal", 513, ZooFacts(_MNV2_8BIT, 16, "74.26% (val)", 2.75e9, "", "2.2MB",
                                 False, False),
         format="tflite", member="frozen_inference_graph.tflite",
         input_tensor=_QUANT_IN, output_tensor=_QUANT_OUT),
    _zoo("mobilenetv2_dm05_coco_voc_trainaug_8bit",
         "deeplabv3_mnv2_dm05_pascal_train_aug_8bit_2019_04_26",
         "pascal", 513, ZooFacts(_MNV2_DM05_8BIT, 16, "69.65% (val)", 0.88e9, "", "8.2MB",
                                 False, False)),
    _zoo("mobilenetv2_dm05_coco_voc_trainaug_8bit_tflite",
         "deeplabv3_mnv2_dm05_pascal_train_aug_8bit_2019_04_26",
         "pascal", 513, ZooFacts(_MNV2_DM05_8BIT, 16, "69.65% (val)", 0.88e9, "", "751.1KB",
                                 False, False),
         format="tflite", member="frozen_inference_graph.tflite",
         input_tensor=_QUANT_IN, output_tensor=_QUANT_OUT),
)

# g3doc/model_zoo.md, "EdgeTPU-DeepLab models on Cityscapes": published at two output strides
# (32 and 16), so no single stride is claimed. The zoo does not list these archives' files; the
# member is "the archive's only *.pb" (an archive with none, or with several, fails its fetch
# saying so) and its tensors are export_model.py's defaults. No ASPP, no decoder (zoo text).
# Latency is quoted for a Pixel 4 Edge TPU simulator, not a CPU, so no runtime is given here.
_EDGETPU: tuple[ModelSpec, ...] = (
    _zoo("edgetpu_deeplab_cityscapes", "edgetpu-deeplab_2020_03_09",
         "cityscapes", 2048, ZooFacts("EdgeTPU-MobileNet 1.0", None,
                                      "70.6% / 74.1% (val, OS 32 / 16)",
                                      5.6e9, "", "", False, False,
                                      "OS 32; 7.1B at OS 16"),
         member="*.pb"),
    _zoo("edgetpu_deeplab_slim_cityscapes", "edgetpu-deeplab-slim_2020_03_09",
         "cityscapes", 2048, ZooFacts("EdgeTPU-MobileNet 0.75", None,
                                      "70.0% / 73.2% (val, OS 32 / 16)",
                                      3.5e9, "", "", False, False,
                                      "OS 32; 4.3B at OS 16"),
         member="*.pb"),
)


# research/deeplab/g3doc/model_zoo.md. The frozen graphs are exported at output stride 8 (or as the
# zoo says) with a single scale, so published mIOU is NOT what a graph scores: thresholds for these
# models are measured under our protocol and configured by the user, never copied from the table.
# Cityscapes graphs take full 2048x1024 frames and pad them inside the graph (crop 1025x2049), so
# the demo resize targets 2048: a frame reaches the graph with its pixels unchanged.
_MNV2 = "MobileNet-v2"
OFFICIAL_MODELS: tuple[ModelSpec, ...] = (
    _zoo("mobilenetv2_dm05_coco_voc_trainaug", "deeplabv3_mnv2_dm05_pascal_trainaug_2018_10_01",
         "pascal", 513, ZooFacts("MobileNet-v2 x0.5", 16, "70.19% (val)", 0.88e9, "", "7.6MB",
                                 False, False)),
    _zoo("mobilenetv2_dm05_coco_voc_trainval", "deeplabv3_mnv2_dm05_pascal_trainval_2018_10_01",
         "pascal", 513, ZooFacts("MobileNet-v2 x0.5", 8, "71.83% (test)", 2.84e9, "", "7.6MB",
                                 False, False)),
    _zoo("mobilenetv2_coco_voc_trainaug", "deeplabv3_mnv2_pascal_train_aug_2018_01_29",
         "pascal", 513, ZooFacts(_MNV2, 16, "75.32% (val)", 2.75e9, "0.1", "23MB", False, False),
         sha384="d3f2b27bb00c485ca45d68731f7198a23926cb865dd010fc444bcad9158e33413cd60da2588a9be3"
                "ff1e8c9b4557362b",
         size=23882985),
    _zoo("mobilenetv2_coco_voc_trainval", "deeplabv3_mnv2_pascal_trainval_2018_01_29",
         "pascal", 513, ZooFacts(_MNV2, 8, "80.25% (test)", 152.59e9, "26.9", "23MB",
                                 False, False, "MS")),
    _zoo("xception65_coco_voc_trainaug", "deeplabv3_pascal_train_aug_2018_01_04",
         "pascal", 513, ZooFacts("Xception-65", 16, "82.20% (val)", 54.17e9, "0.7", "439MB",
                                 True, True)),
    _zoo("xception65_coco_voc_trainval", "deeplabv3_pascal_trainval_2018_01_04",
         "pascal", 513, ZooFacts("Xception-65", 8, "87.80% (test)", 3055.35e9, "223.2",
                                 "439MB", True, True, "MS")),
    _zoo("mobilenetv2_coco_cityscapes_trainfine", "deeplabv3_mnv2_cityscapes_train_2018_02_05",
         "cityscapes", 2048, ZooFacts(_MNV2, 16, "70.71% (val)", 21.27e9, "0.8", "23MB",
                                      False, False)),
    _zoo("mobilenetv3_large_cityscapes_trainfine",
         "deeplab_mnv3_large_cityscapes_trainfine_2019_11_15",
         "cityscapes", 2048, ZooFacts("MobileNet-v3 large", 32, "72.41% (val)", 15.95e9, "",
                                      "17MB")),
    _zoo("mobilenetv3_small_cityscapes_trainfine",
         "deeplab_mnv3_small_cityscapes_trainfine_2019_11_15",
         "cityscapes", 2048, ZooFacts("MobileNet-v3 small", 32, "68.99% (val)", 4.63e9, "",
                                      "5MB")),
    _zoo("xception65_cityscapes_trainfine", "deeplabv3_cityscapes_train_2018_02_06",
         "cityscapes", 2048, ZooFacts("Xception-65", 16, "78.79% (val)", 418.64e9, "5.0",
                                      "439MB", True, True)),
    _zoo("xception71_dpc_cityscapes_trainfine",
         "deeplab_cityscapes_xception71_trainfine_2018_09_08",
         "cityscapes", 2048, ZooFacts("Xception-71 + DPC", 16, "80.31% (val)", 502.07e9, "",
                                      "445MB")),
    _zoo("xception71_dpc_cityscapes_trainval",
         "deeplab_cityscapes_xception71_trainvalfine_2018_09_08",
         "cityscapes", 2048, ZooFacts("Xception-71 + DPC", 8, "82.66% (test, MS)", None, "",
                                      "446MB")),
    _zoo("mobilenetv2_ade20k_train", "deeplabv3_mnv2_ade20k_train_2018_12_03",
         "ade20k", 257, ZooFacts(_MNV2, 16, "32.04% (val)", None, "", "24.8MB")),
    _zoo("xception65_ade20k_train", "deeplabv3_xception_ade20k_train_2018_05_29",
         "ade20k", 513, ZooFacts("Xception-65", 8, "45.65% (val, MS)", None, "", "439MB",
                                 True, True)),
    ModelSpec(
        name="deeplabv3_257_mv_gpu",
        format="tflite",
        label_set="pascal",
        input_size=257,
        source="official",
        url=f"{TFLITE_BASE_URL}deeplabv3_257_mv_gpu.tflite",
        # The official file's checksum (the same bytes ship in many public repositories).
        sha256="68a539782c2c6a72f8aac3724600124a85ed977162b44e84cbae5db717c933c6",
        size=2779264,
        input_tensor="sub_7",
        output_tensor="ResizeBilinear_3",
        # No published table for this file; read from the model itself (pytest-deeplab inspect):
        # its conv filters equal the dm05 graph's, at output stride 8.
        facts=ZooFacts("MobileNet-v2 x0.5", 8, "", None, "", "2.7MB", False, False),
    ),
    *_QUANTIZED_8BIT, *_EDGETPU,
)
