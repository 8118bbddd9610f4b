"""Fast batched inference for every forward pass without gradients (embeddings, occlusion,
deletion curves, reliance scores).

Embeddings and perturbation methods run hundreds of forward passes of the same model without
gradients. An :class:`InferenceEngine` runs them on a private copy of the model (the caller's model
is never touched), in large batches under ``torch.inference_mode()``:

- ``"onnx"``: the copy exported to ONNX (torch's TorchScript-based exporter) and run by ONNX
  Runtime's CPU provider with all graph optimisations (batch-norm folding, fused convolutions,
  its own AVX-512 kernels): about 1.8x faster than ``"jit"`` for OSNet x0.25 on one core
  (``python benchmarks/bench_engines.py``). Outputs are checked against the eager model when the
  engine is built, like ``"jit"``'s. The export is kept in the disk cache by a hash of the weights
  (:mod:`explain.models.engine_export`), so the next process skips it.
- ``"openvino"``: the same ONNX export compiled by OpenVINO for the CPU in f32 (exact, checked
  like ``"onnx"``; :mod:`explain.models.engine_openvino`). Without openvino installed it falls
  back to what ``"auto"`` takes, with a note naming ``pip install openvino``.
- ``"bf16"``: **approximate** — OpenVINO computing in bfloat16 on a CPU with bf16 units
  (AVX512-BF16 or AMX); its :attr:`kind` is ``"bf16 (approximate)"``, so the heatmap's ``info``
  and every page that prints the engine says so. Checked against the eager model with the looser
  :data:`BF16_TOLERANCE`. Refused (EngineError) without openvino or without bf16 units: torch's
  bf16 autocast on a CPU without them is slower than ``"onnx"`` in f32. Never taken by ``"auto"``.
- ``"jit"``: the copy traced with TorchScript, frozen and passed through
  ``torch.jit.optimize_for_inference`` (batch-norm folded into the convolutions, fused
  convolution + ReLU kernels): 3-4x faster than eager on CPU for OSNet. Outputs are checked
  against the eager model when the engine is built (max abs difference <= ``tolerance`` times
  the largest output value).
- ``"eager"``: the copy in channels-last memory format (1.5x faster than the default format).
- ``"auto"``: ``"onnx"`` when onnxruntime is installed and the model is on the CPU, else
  ``"jit"``; the next one down when exporting, tracing or the check fails (recorded in
  :attr:`note` and the heatmap's ``info``, with a RuntimeWarning). Not ``"openvino"``: on OSNet
  x0.25 it is no faster than ONNX Runtime in f32. On a GPU (a CUDA model) ``"auto"`` takes
  ``"jit"`` even when onnxruntime offers ``CUDAExecutionProvider``: only ONNX Runtime's CPU
  provider is used (nothing was measured on a GPU).

Gradients (Grad-CAM and its family) and training stay in torch.

Engines are cached per model object and invalidated when any parameter or buffer changes
(``load_state_dict``, an optimiser step, a device move). Traces are shared between models of the
same architecture (same class and tensor shapes, e.g. the checkpoints of a series): the next
checkpoint loads its weights into a copy of the trace instead of tracing again; the process keeps
one trace per architecture and input size.
"""

from __future__ import annotations

import copy
import threading
import warnings
import weakref
from collections.abc import Callable

import torch
from torch import nn

from explain.models import engine_openvino
from explain.models.engine_export import Export, onnx_bytes

ENGINES = ("auto", "onnx", "openvino", "jit", "eager", "bf16")
BF16_KIND = "bf16 (approximate)"
APPROXIMATE_ENGINES = ("bf16",)  # maps made with these are cached apart from exact ones
# bf16 keeps 8 bits of mantissa (0.4% per value, compounded over the layers): the check allows
# 10% of the largest output (at least 1), enough to catch a wrong graph (errors of the order of the
# output), not meant to bound the rounding. Measured: the sample's epoch-60 OSNet x0.25 differs by
# up to 3.1e-2 of its largest output on real photos (cosine to the f32 embedding >= 0.999)
BF16_TOLERANCE = 0.1
_WHAT = {"onnx": "ONNX export", "openvino": "OpenVINO", "bf16": "OpenVINO bf16",
         "jit": "TorchScript tracing"}  # fmt: skip


class EngineError(RuntimeError):
    """The fast engine could not reproduce the model's output; use ``engine="eager"``."""


_TRACES: dict[tuple, torch.jit.ScriptModule] = {}  # one trace per architecture and input shape
_TRACES_LOCK = threading.Lock()


def _trace_key(model: nn.Module, example: torch.Tensor) -> tuple:
    cls = type(model)
    state = tuple((k, tuple(v.shape), str(v.dtype)) for k, v in model.state_dict().items())
    return (cls.__module__, cls.__qualname__, state, tuple(example.shape[1:]), str(example.device))


def _fingerprint(model: nn.Module) -> tuple:
    state = [*model.parameters(), *model.buffers()]
    return tuple((id(t), t._version, t.data_ptr(), str(t.device), t.dtype) for t in state)


class InferenceEngine:
    """A gradient-free, batched forward function ``(N, 3, H, W) -> (N, D)`` for one model.

    ``export_cached``: after the build, True when an ONNX-based engine read its export from the
    disk cache, False when it exported, None for the others."""

    def __init__(self, model: nn.Module, kind: str = "auto", tolerance: float = 1e-4):
        if kind not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {kind!r}")
        self.kind = kind
        self.note = ""
        self.tolerance = tolerance
        self.export_cached: bool | None = None
        self._lock = threading.Lock()
        copy_ = copy.deepcopy(model).eval()
        for p in copy_.parameters():
            p.requires_grad_(False)
        self._eager = copy_.to(memory_format=torch.channels_last)
        self._fn: Callable[[torch.Tensor], torch.Tensor] = self._eager
        self._jit_ready = False

    def _trace(self, example: torch.Tensor, reuse: bool) -> torch.jit.ScriptModule:
        """A traced copy of the model: a copy of an earlier trace of the same architecture with
        this model's weights loaded (tracing takes ~1 s, this ~0.03 s), or a fresh trace."""
        key = _trace_key(self._eager, example)
        with _TRACES_LOCK:
            known = _TRACES.get(key) if reuse else None
        if known is not None:
            traced = copy.deepcopy(known)
            traced.load_state_dict(self._eager.state_dict())
            return traced
        with torch.no_grad():
            traced = torch.jit.trace(self._eager, example, check_trace=False)
        with _TRACES_LOCK:
            _TRACES[key] = traced
        return copy.deepcopy(traced)

    def _check(
        self,
        frozen: Callable[[torch.Tensor], torch.Tensor],
        example: torch.Tensor,
        tolerance: float | None = None,
    ) -> None:
        # on a batch of another size than the trace's, with distinct images
        tolerance = self.tolerance if tolerance is None else tolerance
        probe = torch.cat([example, example.flip(-1), example * 0.5], 0)
        with torch.inference_mode():
            want = self._eager(probe.contiguous(memory_format=torch.channels_last))
            got = frozen(probe)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            raise EngineError(
                f"the traced model returns {type(got).__name__} of another shape than the model"
            )
        diff = float((got - want).abs().max()) / max(1.0, float(want.abs().max()))
        if not diff <= tolerance:
            why = "bf16 rounding is too coarse for this model" if tolerance == BF16_TOLERANCE else (
                "the model may have input-dependent control flow")  # fmt: skip
            raise EngineError(
                f"the traced model differs from the model by {diff:.2e} relative to its largest "
                f"output (> {tolerance:g}); {why}"
            )

    def _build_jit(self, example: torch.Tensor) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript's deprecation notice
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            for reuse in (True, False):
                traced = self._trace(example, reuse)
                with torch.no_grad():
                    frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
                try:
                    self._check(frozen, example)
                except EngineError:
                    if reuse:  # the architecture's earlier trace does not fit: trace afresh
                        continue
                    raise
                break
        self._fn = frozen
        self.kind = "jit"

    def _build_exported(self, kind: str, example: torch.Tensor) -> None:
        """``"onnx"``, ``"openvino"`` or ``"bf16"`` from the ONNX export (cached on disk); a
        cached export that does not load or fails the check is deleted and exported again."""
        for _attempt in range(2):  # the second after a rejected cached export: exported afresh
            export = onnx_bytes(self._eager, example)
            try:
                if kind == "onnx":
                    fn = _ort_run(_ort_session(export.data))
                else:
                    fn = engine_openvino.openvino_run(export.data, "f32" if kind == "openvino"
                                                      else "bf16")  # fmt: skip
                self._check(fn, example, BF16_TOLERANCE if kind == "bf16" else None)
            except Exception as exc:
                if not export.cached:
                    raise
                export.reject(f"the cached export failed: {type(exc).__name__}: {exc}"[:300])
                continue
            break
        self._note_export(export)
        self._fn = fn
        self.kind = BF16_KIND if kind == "bf16" else kind

    def _note_export(self, export: Export) -> None:
        self.export_cached = export.cached
        self.note = export.note  # the export cache could not be written (already warned)

    def _order(self, device: torch.device, notes: list[str]) -> list[str]:
        """The engines to try in turn for ``self.kind`` on ``device``."""
        if self.kind in ("openvino", "bf16") and device.type != "cpu":
            raise EngineError(
                f"engine={self.kind!r} runs on the CPU and the model is on {device.type}; "
                "use engine='auto' (TorchScript on a GPU)"
            )
        if self.kind == "bf16":
            if not engine_openvino.openvino_available():
                raise EngineError(
                    f"engine='bf16' runs on OpenVINO, which is not installed; "
                    f"{engine_openvino.INSTALL_HINT}, or use engine='onnx' (exact)"
                )
            if not engine_openvino.bf16_supported():
                raise EngineError(
                    "engine='bf16' needs a CPU with bf16 units (AVX512-BF16 or AMX) and this one "
                    "has none; use engine='onnx' (exact)"
                )
            return ["bf16"]
        auto = ["onnx", "jit"] if device.type == "cpu" and onnx_available() else ["jit"]
        if self.kind == "openvino" and not engine_openvino.openvino_available():
            notes.append(f"openvino is not installed ({engine_openvino.INSTALL_HINT})")
            return auto
        return auto if self.kind == "auto" else [self.kind]

    def prepare(self, example: torch.Tensor) -> None:
        """Build the fast model on first use (``example``: ``(1, 3, H, W)`` on the device)."""
        with self._lock:
            if self._jit_ready or self.kind == "eager":
                return
            notes: list[str] = []
            order = self._order(example.device, notes)
            missing = bool(notes)  # openvino asked for but not installed: auto's order instead
            for kind in order:
                try:
                    if kind == "jit":
                        self._build_jit(example[:1])
                    else:
                        self._build_exported(kind, example[:1])
                    break
                except Exception as exc:  # this engine failed: take the next one, and say so
                    reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}"
                    if self.kind != "auto" and not missing:
                        other = "'onnx' (exact)" if kind == "bf16" else "'eager'"
                        raise EngineError(
                            f"{_WHAT[kind]} failed ({reason}); use engine={other}"
                        ) from exc
                    what = "onnx export" if kind == "onnx" else "jit tracing"
                    notes.append(f"{what} failed ({reason})")
            else:
                self.kind = "eager"
                notes.append("ran eager")
            if missing and self.kind != "eager":
                notes.append(f"ran {self.kind}")
            if notes:
                warnings.warn("; ".join(notes), RuntimeWarning, stacklevel=3)
            self.note = "; ".join([*notes, *([self.note] if self.note else [])])
            self._jit_ready = True

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(N, D)`` of a batch ``(N, 3, H, W)`` (no gradient)."""
        self.prepare(batch[:1])
        with torch.inference_mode():
            if self.kind == "eager":
                batch = batch.contiguous(memory_format=torch.channels_last)
            out = self._fn(batch)
        return features(out)


def features(out: object) -> torch.Tensor:
    """``out`` when it is a ``(batch, features)`` tensor (what a re-ID model returns in eval
    mode), else ValueError saying how to load the model."""
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        kind = type(out).__name__ if not isinstance(out, torch.Tensor) else f"shape {out.shape}"
        raise ValueError(
            f"the model returned {kind} in eval mode, not a (batch, features) tensor; "
            "load it with explain.models.checkpoints.load_model (torchreid models return the "
            "embedding in eval mode)"
        )
    return out


def onnx_available() -> bool:
    """True when onnxruntime can be imported."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _ort_session(data: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _ort_run(session) -> Callable[[torch.Tensor], torch.Tensor]:
    def run(batch: torch.Tensor) -> torch.Tensor:
        x = batch.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(session.run(None, {"images": x})[0])

    return run


def onnx_session(model: nn.Module, example: torch.Tensor):
    """An ONNX Runtime session of ``model`` (eval mode, no gradients) for inputs shaped like
    ``example`` ``(1, 3, H, W)`` with any batch size; one intra-op thread per torch thread. The
    export is read from the export cache when there (:mod:`explain.models.engine_export`)."""
    return _ort_session(onnx_bytes(model, example).data)


_CACHE: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, str, InferenceEngine]] = (
    weakref.WeakKeyDictionary()
)
_CACHE_LOCK = threading.Lock()


def engine_for(model: nn.Module, kind: str = "auto") -> InferenceEngine:
    """The cached engine of ``model`` (rebuilt when its weights, buffers or device changed)."""
    fp = _fingerprint(model)
    with _CACHE_LOCK:
        hit = _CACHE.get(model)
        if hit is not None and hit[0] == fp and hit[1] == kind:
            return hit[2]
    engine = InferenceEngine(model, kind)
    with _CACHE_LOCK:
        _CACHE[model] = (fp, kind, engine)
    return engine
