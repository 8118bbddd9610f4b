"""OpenVINO runs of an ONNX export: exact (f32) or approximate (bf16 on CPUs with bf16 units).

The model is read from the ONNX bytes the engine already exported (``core.read_model`` on ONNX
bytes takes a fraction of ``ov.convert_model`` on the torch model) and compiled for the CPU with
one stream, the latency hint and one inference thread per torch thread. ``"f32"`` sets the
precision hint to f32, so results match torch to float rounding; ``"bf16"`` computes in bfloat16
(8-bit mantissa) and needs a CPU that OpenVINO reports bf16 support for (AVX512-BF16 or AMX).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import torch

INSTALL_HINT = "install it with `pip install openvino`"
_CORE = None
_CORE_LOCK = threading.Lock()


def openvino_available() -> bool:
    """True when openvino can be imported."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def _core():
    global _CORE
    import openvino as ov

    with _CORE_LOCK:
        if _CORE is None:
            _CORE = ov.Core()
        return _CORE


def bf16_supported() -> bool:
    """True when OpenVINO reports bf16 units on this CPU (AVX512-BF16 or AMX)."""
    return "BF16" in _core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def openvino_run(onnx: bytes, precision: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """A forward ``(N, C, H, W) -> (N, D)`` float32 of the ONNX model ``onnx`` compiled by
    OpenVINO for the CPU; ``precision`` is ``"f32"`` (exact) or ``"bf16"`` (approximate)."""
    if precision not in ("f32", "bf16"):
        raise ValueError(f"precision must be 'f32' or 'bf16', not {precision!r}")
    core = _core()
    model = core.read_model(onnx, b"")
    compiled = core.compile_model(
        model,
        "CPU",
        {
            "INFERENCE_PRECISION_HINT": precision,
            "INFERENCE_NUM_THREADS": torch.get_num_threads(),
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
        },
    )
    request = compiled.create_infer_request()
    lock = threading.Lock()  # one request: concurrent callers take turns

    def run(batch: torch.Tensor) -> torch.Tensor:
        x = np.ascontiguousarray(batch.detach().to("cpu", torch.float32).numpy())
        with lock:
            out = request.infer({0: x})[compiled.output(0)]
            return torch.from_numpy(np.array(out, dtype=np.float32, copy=True))

    return run
