"""A per-op profiler for TF Lite interpreters whose Python API has none, through ctypes.

Neither `tf.lite.Interpreter` nor `ai_edge_litert` exposes TF Lite's profiler in Python, but the
wheels keep the C++ method `tflite::impl::Interpreter::SetProfilerImpl(std::unique_ptr<Profiler>)`:
exported by TensorFlow's `libtensorflow_cc.so.2`, a local symbol of LiteRT's
`libpywrap_litert_common.so` (found in the file's ELF symbol table, read here without binutils,
and placed with the load address of one of its exported symbols). We build a `tflite::Profiler`
object by hand (a vtable of ctypes callbacks, Itanium C++ ABI), hand it over before
`allocate_tensors()` so that XNNPACK sees it when it prepares its partitions, and collect:

- OPERATOR_INVOKE_EVENT spans (Begin/End) for ops TF Lite's own kernels run, with the node index;
- DELEGATE_PROFILED_OPERATOR_INVOKE_EVENT records (AddEvent) for each operator XNNPACK runs
  inside its partitions, with XNNPACK's own microseconds and operator index.

Where no such symbol exists (another build, another platform) `attach` raises ProbeUnavailable
with the reason; nothing about the model's verdict depends on this module.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Any

SYMBOL = ("_ZN6tflite4impl11Interpreter15SetProfilerImplESt10unique_ptrINS_8Profiler"
          "ESt14default_deleteIS3_EE")
OPERATOR_INVOKE_EVENT = 2  # tflite::Profiler::EventType
DELEGATE_OPERATOR_INVOKE_EVENT = 4
DELEGATE_PROFILED_OPERATOR_INVOKE_EVENT = 8
TRACKED = (OPERATOR_INVOKE_EVENT, DELEGATE_OPERATOR_INVOKE_EVENT)

_BEGIN = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                          ctypes.c_int64, ctypes.c_int64)
_END = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int64, ctypes.c_int64)
_ADD = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint64,
                        ctypes.c_int64, ctypes.c_int64)
_NOOP = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_SET = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)

# Profilers handed to C++ belong to their interpreter, which may outlive any Python reference:
# their vtables and callbacks are kept for the life of the process (a few hundred bytes each).
_KEPT: list[Any] = []


class ProbeUnavailable(RuntimeError):
    """This TF Lite build offers no way to attach a profiler (the reason says why)."""


@dataclass
class OpEvent:
    """One op of one invocation: a TF Lite node, or an operator inside XNNPACK."""

    kind: str  # "node" (TF Lite kernel) or "xnnpack" (an operator of a delegate partition)
    index: int  # node index, or XNNPACK's operator index
    tag: str  # op name as the runtime reports it: CONV_2D, "Convolution (NHWC, F32) IGEMM"
    ms: float


@dataclass
class Invocation:
    events: list[OpEvent] = field(default_factory=list)


class TFLiteProfiler:
    """Collects the events of the current invocation; `take()` hands them over and resets."""

    def __init__(self) -> None:
        self._open: dict[int, tuple[str, int, int, int]] = {}
        self._next = 0
        self.current = Invocation()
        callbacks = [_NOOP(self._noop), _NOOP(self._noop),  # complete and deleting destructors
                     _BEGIN(self._begin),
                     _END(self._end), _END(self._end),  # EndEvent(handle, m1, m2), EndEvent(h)
                     _ADD(self._add),
                     _NOOP(self._noop), _NOOP(self._noop), _NOOP(self._noop)]  # later slots
        pointers = [ctypes.cast(c, ctypes.c_void_p).value for c in callbacks]
        self._vtable = (ctypes.c_void_p * (len(pointers) + 2))(0, 0, *pointers)
        self._object = (ctypes.c_void_p * 2)(
            ctypes.addressof(self._vtable) + 2 * ctypes.sizeof(ctypes.c_void_p), 0)
        self._callbacks = callbacks

    @property
    def address(self) -> int:
        return ctypes.addressof(self._object)

    def _noop(self, this: Any) -> None:
        return None

    def _begin(self, this: Any, tag: bytes | None, event_type: int, m1: int, m2: int) -> int:
        if event_type not in TRACKED:
            return 0
        self._next += 1
        self._open[self._next] = ((tag or b"?").decode("utf-8", "replace"), event_type, m1,
                                  time.perf_counter_ns())
        return self._next

    def _end(self, this: Any, handle: int, m1: int, m2: int) -> None:
        now = time.perf_counter_ns()
        opened = self._open.pop(handle, None)
        if opened is not None:
            tag, _, index, start = opened
            self.current.events.append(OpEvent("node", int(index), tag, (now - start) / 1e6))

    def _add(self, this: Any, tag: bytes | None, event_type: int, metric: int, m1: int,
             m2: int) -> None:
        if event_type == DELEGATE_PROFILED_OPERATOR_INVOKE_EVENT:
            self.current.events.append(OpEvent(
                "xnnpack", int(m1), (tag or b"?").decode("utf-8", "replace"), metric / 1000.0))

    def take(self) -> Invocation:
        taken, self.current = self.current, Invocation()
        self._open.clear()
        return taken


def attach(interpreter: Any) -> TFLiteProfiler:
    """A profiler attached to `interpreter` (call before allocate_tensors), or ProbeUnavailable."""
    wrapper = getattr(interpreter, "_interpreter", None)
    address_of = getattr(wrapper, "interpreter", None)
    if address_of is None:
        raise ProbeUnavailable("this interpreter's Python wrapper does not expose its C++ "
                               "interpreter (no _interpreter.interpreter())")
    module = sys.modules.get(type(wrapper).__module__)
    set_profiler = _find_set_profiler(getattr(module, "__file__", "") or "")
    profiler = TFLiteProfiler()
    holder = ctypes.c_void_p(profiler.address)  # the unique_ptr, passed by reference
    _KEPT.append((profiler, holder))
    set_profiler(int(address_of()), ctypes.addressof(holder))
    if holder.value:
        raise ProbeUnavailable("SetProfilerImpl did not take the profiler (ABI mismatch)")
    return profiler


def _loaded_libraries(package_dir: str) -> list[str]:
    """Shared objects of this package that the process has mapped, wrapper's own first."""
    found: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                parts = line.split(maxsplit=5)
                path = parts[5].strip() if len(parts) == 6 else ""
                if ".so" in path and path.startswith(package_dir) and path not in found:
                    found.append(path)
    except OSError:
        return found
    return found


def _find_set_profiler(wrapper_file: str) -> Any:
    if not sys.platform.startswith("linux"):
        raise ProbeUnavailable(
            f"the per-op probe reads /proc/self/maps (Linux), not {sys.platform}")
    root = os.path.dirname(wrapper_file)
    if os.path.basename(root) == "python":  # tensorflow/lite/python -> tensorflow/
        root = os.path.dirname(os.path.dirname(root))
    libraries = _loaded_libraries(root)
    for library in libraries:
        address = _exported(library, SYMBOL)
        if address:
            return _SET(address)
    for library in libraries:
        address = _local(library)
        if address:
            return _SET(address)
    raise ProbeUnavailable(
        f"no shared object under {root} defines tflite::impl::Interpreter::SetProfilerImpl "
        f"({len(libraries)} searched, exported and local symbols)")


def _exported(library: str, name: str) -> int | None:
    try:
        handle = ctypes.CDLL(library, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        return ctypes.cast(getattr(handle, name), ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None


SHT_SYMTAB, SHT_DYNSYM = 2, 11
STT_FUNC = 2


def _elf_functions(library: str, section_type: int, wanted: bytes | None = None
                   ) -> dict[bytes, int]:
    """Defined functions of one ELF64 symbol table (name -> value); only `wanted` if given.

    Read with plain struct unpacking (the ELF layout, little-endian x86-64/aarch64), so no
    binutils are needed; a file that is not such an ELF gives nothing."""
    found: dict[bytes, int] = {}
    try:
        with open(library, "rb") as handle:
            header = handle.read(64)
            if header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
                return found
            shoff, = struct.unpack_from("<Q", header, 0x28)
            shentsize, shnum = struct.unpack_from("<HH", header, 0x3A)
            handle.seek(shoff)
            sections = [struct.unpack("<IIQQQQIIQQ", handle.read(shentsize)[:64])
                        for _ in range(shnum)]
            for _, kind, _, _, offset, size, link, _, _, entsize in sections:
                if kind != section_type or not entsize:
                    continue
                handle.seek(sections[link][4])
                names = handle.read(sections[link][5])
                target = names.find(b"\0" + wanted + b"\0") + 1 if wanted else -1
                if wanted and target == 0:
                    return found
                handle.seek(offset)
                table = handle.read(size)
                for index in range(0, size - entsize + 1, entsize):
                    name, info, _, shndx, value, _ = struct.unpack_from("<IBBHQQ", table, index)
                    if info & 0xF != STT_FUNC or not value or not shndx:
                        continue
                    if wanted and name != target:
                        continue
                    found[names[name:names.index(b"\0", name)]] = value
                    if wanted:
                        return found
    except (OSError, struct.error, ValueError, IndexError):
        return found
    return found


def _local(library: str) -> int | None:
    """A symbol the file keeps in its symbol table only: its offset plus the load address."""
    own = _elf_functions(library, SHT_SYMTAB, SYMBOL.encode()).get(SYMBOL.encode())
    if own is None:
        return None
    for name, value in _elf_functions(library, SHT_DYNSYM).items():
        address = _exported(library, name.decode("ascii", "replace").split("@")[0])
        if address:
            return address - value + own
    return None
