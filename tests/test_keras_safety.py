"""The Keras format's safety check: config.json read as data, every object listed, anything
outside Keras' built-in pure-computation classes refused before Keras loads the file.

The models are built and saved here with Keras itself; the hand-edited ones are the same zips
with config.json rewritten, as an attacker would ship them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_deeplab.runtime.base import ModelLoadError
from pytest_deeplab.runtime.formats.keras_predictor import KerasPredictor
from pytest_deeplab.runtime.formats.keras_safety import (
    keras_findings,
    list_objects,
    load_allowlist,
    read_config,
)

keras = pytest.importorskip("keras")
REPO = Path(__file__).resolve().parents[1]


def tiny_model(path: Path) -> Path:
    """A functional model with a nested Sequential, a regularizer, a constraint and an
    activation given as a function object: every kind of object a config nests."""
    layers = keras.layers
    inner = keras.Sequential([
        keras.Input((None, None, 8)),
        layers.Conv2D(8, 3, padding="same", name="conv", activation=keras.activations.relu,
                      kernel_regularizer=keras.regularizers.L2(1e-4),
                      kernel_constraint=keras.constraints.NonNeg()),
    ], name="inner")
    inputs = keras.Input((None, None, 3), name="image")
    x = layers.Conv2D(8, 1, name="stem")(inputs)
    x = inner(x)
    outputs = layers.Conv2D(6, 1, name="logits")(x)
    model = keras.Model(inputs, outputs, name="tiny")
    model.save(path)
    return path


def lambda_model(path: Path, marker: Path) -> Path:
    """A model whose Lambda layer writes `marker` whenever its bytecode runs (it runs on load,
    when Keras rebuilds the graph, and on every call)."""
    # the path is a constant of the bytecode (Keras cannot reload a lambda's default arguments)
    function = eval(f"lambda t: (__import__('pathlib').Path({str(marker)!r}).write_text('ran'), "
                    "t)[1]")
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Lambda(function, name="preprocess")(inputs)
    keras.Model(inputs, keras.layers.Conv2D(6, 1, name="logits")(x)).save(path)
    marker.unlink(missing_ok=True)  # building the model ran it once; the file must not again
    return path


def edited(source: Path, target: Path, edit: Any, extra: dict[str, bytes] | None = None) -> Path:
    """`source` with config.json passed through `edit` (and extra members), as a new zip."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            if info.filename == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            new.writestr(info.filename, data)
        for name, data in (extra or {}).items():
            new.writestr(name, data)
    return target


def layer(config: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(entry for entry in config["config"]["layers"]
                                 if entry["config"]["name"] == name)
    return found


def test_every_serialized_object_is_listed_with_the_layer_that_holds_it(tmp_path: Path) -> None:
    config, findings = read_config(tiny_model(tmp_path / "tiny.keras"))
    assert findings == []
    listed = {(o.class_name, o.module, o.where, o.key) for o in list_objects(config)}
    assert ("Functional", "keras.src.models.functional", "(model)", "(root)") in listed
    assert ("Sequential", "keras", "inner", "(root)") in listed
    assert ("Conv2D", "keras.layers", "inner/conv", "(root)") in listed  # the nested model's
    assert ("L2", "keras.regularizers", "inner/conv", "config.kernel_regularizer") in listed
    assert ("NonNeg", "keras.constraints", "inner/conv", "config.kernel_constraint") in listed
    assert ("GlorotUniform", "keras.initializers", "stem", "config.kernel_initializer") in listed
    assert ("DTypePolicy", "keras", "logits", "config.dtype") in listed
    relu = [o for o in list_objects(config) if o.where == "inner/conv" and o.function]
    assert [(o.function, o.key) for o in relu] == [("relu", "config.activation")]
    assert keras_findings(tmp_path / "tiny.keras") == []


def test_the_check_imports_neither_keras_nor_tensorflow(tmp_path: Path) -> None:
    model = tiny_model(tmp_path / "tiny.keras")
    code = ("import sys; from pathlib import Path; "
            "from pytest_deeplab.runtime.formats.keras_safety import keras_findings, list_objects, "
            "read_config; "
            f"print(len(keras_findings(Path({str(model)!r}))), "
            f"len(list(list_objects(read_config(Path({str(model)!r}))[0]))), "
            "'keras' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, check=True).stdout.split()
    assert out[0] == "0" and int(out[1]) > 20
    assert out[2:] == ["False", "False"]


def test_a_module_outside_keras_is_refused_and_never_imported(tmp_path: Path) -> None:
    """The module is importable and would write a marker on import; the check refuses the file
    before Keras (or the module) is imported."""
    marker = tmp_path / "imported.txt"
    (tmp_path / "evil_layers.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n"
        "from keras.layers import Conv2D\n")

    def rename(config: dict[str, Any]) -> None:
        stem = layer(config, "stem")
        stem["module"], stem["registered_name"] = "evil_layers", None

    model = edited(tiny_model(tmp_path / "tiny.keras"), tmp_path / "evil.keras", rename)
    code = ("import sys; from pathlib import Path\n"
            "from pytest_deeplab.runtime.formats.keras_predictor import KerasPredictor\n"
            "try:\n"
            f"    KerasPredictor('evil', Path({str(model)!r}))\n"
            "except Exception as exc:\n"
            "    print(type(exc).__name__, exc)\n"
            "print('keras imported:', 'keras' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path, check=True,
                            env={**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{tmp_path}"})
    assert (f"KerasRefusedError {model}: model evil was not loaded: 1 object(s) in its config.json "
            "are not allowed:\n  - Conv2D at layer stem: module 'evil_layers' is outside Keras' "
            "built-in namespaces; loading would import it") in result.stdout
    assert "keras imported: False" in result.stdout
    assert not marker.exists()


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda c: layer(c, "stem").update(registered_name="my_pkg>Conv2D"),
     "Conv2D at layer stem: registered_name 'my_pkg>Conv2D' names a custom object of a "
     "package, not a built-in Keras one"),
    (lambda c: layer(c, "stem").update(class_name="TFSMLayer"),
     "TFSMLayer at layer stem: not a built-in pure-computation class on the allowlist"),
    (lambda c: layer(c, "stem")["config"].update(kernel_initializer={
        "module": "keras.src.utils.file_utils", "class_name": "get_file", "config": {},
        "registered_name": None}),
     "get_file at layer stem, config.kernel_initializer: module 'keras.src.utils.file_utils' is "
     "outside Keras' built-in namespaces"),
    (lambda c: layer(c, "logits")["config"].update(activation="my_pkg>swish"),
     "function my_pkg>swish at layer logits, config.activation: not a built-in Keras activation"),
    (lambda c: layer(c, "logits")["config"].update(dtype={
        "class_name": "__typespec__", "spec_name": "X", "module": "evil", "config": []}),
     "__typespec__ at layer logits, config.dtype: not a plain-data marker"),
])
def test_objects_keras_would_import_or_run_are_refused(tmp_path: Path, edit: Any,
                                                        expected: str) -> None:
    model = edited(tiny_model(tmp_path / "tiny.keras"), tmp_path / "edited.keras", edit)
    findings = [str(f) for f in keras_findings(model)]
    assert any(f.startswith(expected) for f in findings), findings
    with pytest.raises(ModelLoadError, match="was not loaded"):
        KerasPredictor("edited", model)


def test_zip_members_other_than_the_three_are_refused(tmp_path: Path) -> None:
    source = tiny_model(tmp_path / "tiny.keras")
    extra = edited(source, tmp_path / "extra.keras", lambda c: None,
                   {"assets/vocab.txt": b"a\n", "../escape.py": b"print(1)\n"})
    assert sorted(f.where for f in keras_findings(extra)) == ["../escape.py", "assets/vocab.txt"]
    twice = edited(source, tmp_path / "twice.keras", lambda c: None,
                   {"config.json": json.dumps({"class_name": "Lambda"}).encode()})
    assert [(f.op, f.where) for f in keras_findings(twice)][:1] == [("zip member", "config.json")]


def test_a_lambda_layer_is_named_and_its_bytecode_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "lambda-ran.txt"
    model = lambda_model(tmp_path / "lambda.keras", marker)
    with pytest.raises(ModelLoadError) as refused:
        KerasPredictor("lam", model)
    message = str(refused.value)
    assert message.startswith(f"{model}: model lam was not loaded")
    assert "Lambda at layer preprocess: Lambda layer 'preprocess' holds Python bytecode" in message
    assert "__lambda__ at layer preprocess, config.function" in message
    assert "Rebuild the model from built-in Keras layers" in message
    assert not marker.exists()
    keras.saving.load_model(model, safe_mode=False)  # the marker works: unsafe loading runs it
    assert marker.read_text() == "ran"


def test_the_allowlist_leaves_out_what_runs_code() -> None:
    allow = load_allowlist()
    assert {"Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Resizing", "Functional"} <= \
        allow["classes"]
    assert not {"Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer", "Layer",
                "StringLookup", "TextVectorization"} & allow["classes"]
    assert "__lambda__" not in allow["markers"] and "__typespec__" not in allow["markers"]
    assert all(m == "keras" or m.startswith("keras.") for m in allow["modules"])


def test_allow_ops_lets_a_built_in_class_off_the_list_through_but_never_a_lambda(
    tmp_path: Path,
) -> None:
    inputs = keras.Input((None, None, 3))
    x = keras.layers.AlphaDropout(0.1, name="noise")(inputs)  # built in, not on the list
    model = tmp_path / "alpha.keras"
    keras.Model(inputs, keras.layers.Conv2D(6, 1, name="logits")(x)).save(model)
    with pytest.raises(ModelLoadError) as refused:
        KerasPredictor("alpha", model)
    assert ("  - AlphaDropout at layer noise: not a built-in pure-computation class on the "
            "allowlist (keras_allowlist.txt)\nIf you trust this file, built-in classes off the "
            "list can be allowed for this model only: allow_ops = ['AlphaDropout'] in "
            "[tool.pytest-deeplab.models.alpha].") in str(refused.value)
    allowed = KerasPredictor("alpha", model, allow_ops=("AlphaDropout",))
    assert allowed.safety.allowed_by_model == ["AlphaDropout"]
    assert allowed.predict(np.zeros((5, 7, 3), np.uint8)).shape == (5, 7)

    marker = tmp_path / "lambda-ran.txt"
    lam = lambda_model(tmp_path / "lambda.keras", marker)
    with pytest.raises(ModelLoadError, match="Rebuild the model from built-in Keras layers"):
        KerasPredictor("lam", lam, allow_ops=("Lambda", "__lambda__"))
    assert not marker.exists()
