"""The gate's inference worker: `python -m pytest_deeplab.gate.worker`, run in each environment.

It speaks JSON lines: one request per line on stdin, one reply per line on the *original* stdout
(which is kept private: file descriptor 1 is pointed at stderr, so anything TensorFlow or a
library prints cannot corrupt the protocol). Every reply carries `ok`; failures carry `error`
(the message a person reads) and `kind` (the exception's class).

Requests (`cmd` and its arguments):
  hello  [distributions]      protocol version, Python, numpy, pid, and the installed versions
                              of the named distributions (TensorFlow not imported)
  setup  options, models      resolve the catalogue exactly as the plugin does
  identity                    import TensorFlow; its version, git build, oneDNN flag, threads
  load   model                load once, prepare the timing image, time the first call
  infer  model, n             n timed inferences: wall (perf_counter) and CPU (process_time)
  masks  model                the masks on the model's images, as base64 PNG
  unload model                release the model
  quit
"""

from __future__ import annotations

import base64
import io
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pytest_deeplab.options import build_options

if TYPE_CHECKING:
    from pytest_deeplab.catalogue.resolved import Selection
    from pytest_deeplab.catalogue.specs import ModelSpec
    from pytest_deeplab.session import DeepLabSession

PROTOCOL = 2  # 2: hello reports the versions of asked-for distributions


class Worker:
    """State of one worker process: the session (catalogue, loaded models) and timing images."""

    def __init__(self) -> None:
        self.session: DeepLabSession | None = None
        self.images: dict[str, Any] = {}

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        cmd = request.get("cmd")
        handler = getattr(self, f"cmd_{cmd}", None)
        if handler is None:
            raise ValueError(f"unknown command {cmd!r}")
        result: dict[str, Any] = handler(request)
        return result

    def cmd_hello(self, request: dict[str, Any]) -> dict[str, Any]:
        import importlib.metadata

        import numpy

        from pytest_deeplab import __version__

        return {
            "protocol": PROTOCOL,
            "plugin_version": __version__,
            "python": platform.python_version(),
            "executable": sys.executable,
            "numpy": numpy.__version__,
            "pid": os.getpid(),
            "distributions": {name: _version(importlib.metadata, name)
                              for name in request.get("distributions", [])},
        }

    def cmd_setup(self, request: dict[str, Any]) -> dict[str, Any]:
        from pytest_deeplab.session import DeepLabSession

        o = request["options"]
        rootdir = Path(o["rootdir"])
        options = build_options(
            rootdir,
            ",".join(request["models"]),
            cache_dir=o.get("cache_dir"),
            mirrors=list(o.get("mirrors", [])),
            offline=bool(o.get("offline", False)),
            require_pins=o.get("require_pins"),
            config_file=Path(o["config_file"]) if o.get("config_file") else None,
            threads=o.get("threads"),
        )
        self.session = DeepLabSession(options)
        return {"models": [m.name for m in self.session.selected]}

    def cmd_identity(self, request: dict[str, Any]) -> dict[str, Any]:
        from pytest_deeplab.runtime.identity import runtime_identity

        threads = self.session.options.threads if self.session else None
        return {"identity": runtime_identity(threads).as_dict()}

    @property
    def deeplab(self) -> DeepLabSession:
        """The session `setup` built (models and images are served from it)."""
        if self.session is None:
            raise RuntimeError("setup must come before any model command")
        return self.session

    def _model(self, name: str) -> ModelSpec:
        for model in self.deeplab.selected:
            if model.name == name:
                return model
        raise KeyError(f"model {name!r} was not selected at setup")

    def cmd_load(self, request: dict[str, Any]) -> dict[str, Any]:
        from pytest_deeplab.suite.inputs import first_image

        model = self._model(request["model"])
        start = time.perf_counter()
        predictor = self.deeplab.predictor(model)
        load_s = time.perf_counter() - start
        image_id, image = first_image(self.deeplab, model)
        self.images[model.name] = image
        wall, cpu = time.perf_counter(), time.process_time()
        predictor.predict(image)
        first_wall, first_cpu = time.perf_counter() - wall, time.process_time() - cpu
        describe = getattr(predictor, "describe", None)
        return {
            "load_s": load_s,
            "first_call_s": first_wall,
            "first_call_cpu_s": first_cpu,
            "image": image_id,
            "image_size": [int(image.shape[1]), int(image.shape[0])],
            "describe": describe() if describe else {},
        }

    def cmd_infer(self, request: dict[str, Any]) -> dict[str, Any]:
        model = self._model(request["model"])
        predictor = self.deeplab.predictor(model)
        image = self.images[model.name]
        walls, cpus = [], []
        for _ in range(int(request.get("n", 1))):
            wall, cpu = time.perf_counter(), time.process_time()
            predictor.predict(image)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        return {"wall": walls, "cpu": cpus}

    def cmd_masks(self, request: dict[str, Any]) -> dict[str, Any]:
        from PIL import Image

        model = self._model(request["model"])
        predictor = self.deeplab.predictor(model)
        paths = model_image_paths(self.deeplab.selection, model)
        limit = request.get("limit")
        out = []
        for image_id, path in paths[: int(limit) if limit else None]:
            size = self.deeplab.input_size(model)
            mask = predictor.predict(self.deeplab.prepared_image(path, size))
            buffer = io.BytesIO()
            Image.fromarray(mask).save(buffer, format="PNG")
            out.append({"id": image_id, "png": base64.b64encode(buffer.getvalue()).decode()})
        return {"masks": out}

    def cmd_unload(self, request: dict[str, Any]) -> dict[str, Any]:
        model = self._model(request["model"])
        self.deeplab.release(model.name)
        self.images.pop(model.name, None)
        return {}


def _version(metadata: Any, name: str) -> str | None:
    try:
        return str(metadata.version(name))
    except metadata.PackageNotFoundError:
        return None


def model_image_paths(selection: Selection, model: ModelSpec) -> list[tuple[str, Path]]:
    """The model's golden images, then its dataset's labelled images, each path once."""
    seen: dict[Path, str] = {}
    for ref in selection.golden_images(model):
        seen.setdefault(ref.path, ref.image_id)
    for image, _label in selection.labelled_pairs(model):
        seen.setdefault(image, image.stem)
    return [(image_id, path) for path, image_id in seen.items()]


def decode_mask(png_base64: str) -> Any:
    """The mask a worker sent (uint8 H x W)."""
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(png_base64))) as image:
        return np.asarray(image)


def serve(stdin: IO[str], out: IO[str], make: Callable[[], Any] | None = None) -> None:
    """One reply per request until `quit`; every failure is a reply, never a dead worker.
    `make` builds the command handler (the gate's Worker, or explain's subclass of it)."""
    worker = (make or Worker)()
    for line in stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            if request.get("cmd") == "quit":
                out.write(json.dumps({"ok": True}) + "\n")
                out.flush()
                return
            reply = {"ok": True, **worker.handle(request)}
        except Exception as exc:  # every failure goes back to the gate, which reports it
            reply = {"ok": False, "error": str(exc) or repr(exc), "kind": type(exc).__name__}
        out.write(json.dumps(reply) + "\n")
        out.flush()


def main(make: Callable[[], Any] | None = None) -> None:
    """The worker process: the protocol keeps the original stdout to itself."""
    protocol_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # stray prints (Python or C++) land on stderr, never in the protocol
    sys.stdout = sys.stderr
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    serve(sys.stdin, protocol_out, make)


if __name__ == "__main__":
    main()
