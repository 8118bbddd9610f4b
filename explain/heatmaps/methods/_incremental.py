"""Occlusion that recomputes only what a window changes, for torchreid's OSNet.

A window hidden at the input changes only a small part of the early, high-resolution feature maps:
the stem (7x7 convolution, stride 2, and a 3x3 max-pool, stride 2: each stem output sees 11x11
input pixels at stride 4) and the first OSBlock's local branches (a 1x1 convolution, four streams
of up to four depthwise 3x3 convolutions, the 1x1 downsample of the residual). These run on small
crops around each window, and their results are pasted into copies of the clean image's feature
maps. Everything from the first block's channel gate on (a global average pool: every position
depends on every window) runs in full through ONNX Runtime on the pasted maps.

Exactness: a crop's output is used only where its receptive field lies inside the crop, or where
the crop's edge is the image's edge (the same zero / -inf padding as the full image). The result
is the dense forward's up to float rounding; :meth:`IncrementalOSNet.build` checks a few windows
against the model itself and refuses (the caller falls back to dense forwards) when they differ.

How much this saves is bounded by the gates: on OSNet x0.25 at 256x128 the local part is about a
third of a forward's time; the rest (the gated blocks) cannot be reused exactly.
"""

from __future__ import annotations

import io
import math
import threading
import warnings
import weakref

import torch
import torch.nn.functional as F
from torch import nn

from explain.models.engine import _fingerprint

Window = tuple[int, int, int, int]  # row0, row1, col0, col1 (end exclusive)


class Unsupported(ValueError):
    """The model is not one this path knows how to split; use dense forwards."""


def _chain(layers: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    """Receptive field ``(K, P, S)`` of a chain of ``(kernel, stride, padding)`` layers: output
    ``j`` sees input positions ``[j*S - P, j*S - P + K - 1]``."""
    k_tot, p_tot, s_tot = 1, 0, 1
    for k, s, p in layers:
        k_tot += (k - 1) * s_tot
        p_tot += p * s_tot
        s_tot *= s
    return k_tot, p_tot, s_tot


def _one(v) -> int:
    v = tuple(v) if isinstance(v, tuple | list) else (v, v)
    if v[0] != v[1]:
        raise Unsupported(f"non-square kernel, stride or padding {v}")
    return int(v[0])


class _Tail(nn.Module):
    """The model from the first block's channel gate on: ``(x2a, x2b, x2c, x2d, identity)`` ->
    the embedding (what OSNet.forward returns in eval mode)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.block = model.conv2[0]
        self.rest = nn.Sequential(*list(model.conv2)[1:], model.conv3, model.conv4, model.conv5)
        self.pool = model.global_avgpool
        self.fc = model.fc

    def forward(self, a, b, c, d, identity):
        g = self.block.gate
        x = F.relu(self.block.conv3(g(a) + g(b) + g(c) + g(d)) + identity)
        v = self.pool(self.rest(x)).flatten(1)
        return v if self.fc is None else self.fc(v)


def _check_structure(model: nn.Module) -> int:
    """The first block's stream halo (depthwise 3x3 layers in its deepest stream), or Unsupported
    naming what differs from torchreid's OSNet without instance normalisation."""
    if type(model).__name__ != "OSNet":
        raise Unsupported(f"{type(model).__name__} is not torchreid's OSNet")
    conv1, pool = getattr(model, "conv1", None), getattr(model, "maxpool", None)
    if not isinstance(getattr(conv1, "bn", None), nn.BatchNorm2d):
        raise Unsupported("the stem uses instance normalisation (a global statistic)")
    if not isinstance(pool, nn.MaxPool2d) or _one(pool.dilation) != 1 or pool.ceil_mode:
        raise Unsupported("the stem's pooling is not a plain max-pool")
    block = model.conv2[0]
    if type(block).__name__ != "OSBlock" or block.IN is not None:
        raise Unsupported("the first block is not a plain OSBlock")
    halo = 0
    for stream in (block.conv2a, block.conv2b, block.conv2c, block.conv2d):
        layers = [stream] if not isinstance(stream, nn.Sequential) else list(stream)
        depth = 0
        for light in layers:
            conv = light.conv2
            k, p = _one(conv.kernel_size), _one(conv.padding)
            if _one(conv.stride) != 1 or p != k // 2 or _one(conv.dilation) != 1:
                raise Unsupported("a stream convolution is strided, dilated or not 'same'")
            depth += k // 2
        halo = max(halo, depth)
    return halo


class IncrementalOSNet:
    """Embeddings of one image with windows hidden, recomputing the local layers on crops."""

    def __init__(self, model: nn.Module, session, halo: int, stem_rf: tuple[int, int, int]):
        self.model = model
        self.session = session
        self.halo = halo
        self.k, self.p, self.s = stem_rf
        self.x: torch.Tensor | None = None

    # -- set-up -------------------------------------------------------------------------------
    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.maxpool(self.model.conv1(x))

    def _local(self, s: torch.Tensor) -> list[torch.Tensor]:
        block = self.model.conv2[0]
        x1 = block.conv1(s)
        streams = [block.conv2a(x1), block.conv2b(x1), block.conv2c(x1), block.conv2d(x1)]
        identity = s if block.downsample is None else block.downsample(s)
        return [*streams, identity]

    def _tail(self, parts: list[torch.Tensor]) -> torch.Tensor:
        feeds = {f"in{i}": t.contiguous().numpy() for i, t in enumerate(parts)}
        return torch.from_numpy(self.session.run(None, feeds)[0])

    def bind(self, x: torch.Tensor, base: torch.Tensor, wins: list[Window]) -> torch.Tensor:
        """Prepare for image ``x`` ``(1, 3, H, W)`` and baseline ``base``; returns the clean
        embedding ``(1, D)``. ``wins`` fixes the crop sizes (the largest window's)."""
        h, w = int(x.shape[2]), int(x.shape[3])
        if h % self.s or w % self.s:
            raise Unsupported(f"the input {h}x{w} is not a multiple of the stem stride {self.s}")
        self.x, self.base = x, base
        self._bufs = None
        with torch.inference_mode():
            self.stem0 = self._stem(x)
            self.local0 = self._local(self.stem0)
            clean = self._tail(self.local0)
        self.n = (int(self.stem0.shape[2]), int(self.stem0.shape[3]))
        if self.n != (h // self.s, w // self.s):
            raise Unsupported(f"the stem maps {h}x{w} to {self.n}, not 1/{self.s} of it")
        spans = [self._spans(win) for win in wins]
        # fixed crop lengths per axis: stem crop L1 (input pixels), local crop L2 (stem cells)
        self.l1 = [0, 0]
        self.l2 = [0, 0]
        for axis, size in ((0, h), (1, w)):
            d1 = max(sp[axis][1] - sp[axis][0] for sp in spans)
            need = (d1 + math.ceil(self.p / self.s)) * self.s - self.p + self.k
            self.l1[axis] = min(size, self.s * math.ceil(need / self.s))
            d2 = max(sp[axis][3] - sp[axis][2] for sp in spans)
            self.l2[axis] = min(self.n[axis], d2 + 2 * self.halo + 1)
        return clean

    def _spans(self, win: Window) -> tuple[tuple[int, int, int, int], ...]:
        """Per axis: changed stem cells ``[lo, hi]``, changed local-branch cells ``[lo2, hi2]``."""
        out = []
        for axis, (a0, a1) in enumerate(((win[0], win[1]), (win[2], win[3]))):
            n = self.n[axis]
            lo = max(0, (a0 + self.p - self.k + 1) // self.s)
            hi = min(n - 1, (a1 - 1 + self.p) // self.s)
            out.append((lo, hi, max(0, lo - self.halo), min(n - 1, hi + self.halo)))
        return tuple(out)

    def _start(self, lo: int, length: int, size: int, margin: int, stride: int = 1) -> int:
        """Crop start (in output cells) so that cell ``lo`` has ``margin`` cells of context."""
        limit = size // stride - length // stride
        return min(max(0, lo - margin), limit)

    # -- the forward --------------------------------------------------------------------------
    def __call__(self, wins: list[Window]) -> torch.Tensor:
        """Embeddings ``(len(wins), D)`` of the image with each window replaced by the baseline."""
        x, base, n = self.x, self.base, len(wins)
        spans = [self._spans(win) for win in wins]
        (l1r, l1c), (l2r, l2c) = self.l1, self.l2
        h, w = int(x.shape[2]), int(x.shape[3])
        m = math.ceil(self.p / self.s)
        crops = x.new_empty((n, 3, l1r, l1c))
        starts1 = []
        for i, ((r0, r1, c0, c1), (sr, sc)) in enumerate(zip(wins, spans, strict=True)):
            ar = self._start(sr[0], l1r, h, m, self.s)
            ac = self._start(sc[0], l1c, w, m, self.s)
            y0, x0 = ar * self.s, ac * self.s
            crops[i] = x[0, :, y0 : y0 + l1r, x0 : x0 + l1c]
            g0, g1 = max(r0, y0), min(r1, y0 + l1r)  # the window's part inside the crop
            k0, k1 = max(c0, x0), min(c1, x0 + l1c)
            if g1 > g0 and k1 > k0:
                crops[i, :, g0 - y0 : g1 - y0, k0 - x0 : k1 - x0] = base[0, :, g0:g1, k0:k1]
            starts1.append((ar, ac))
        stem, *parts = self._buffers(n)
        with torch.inference_mode():
            stem_crops = self._stem(crops)
            for i, ((sr, sc), (ar, ac)) in enumerate(zip(spans, starts1, strict=True)):
                stem[i, :, sr[0] : sr[1] + 1, sc[0] : sc[1] + 1] = stem_crops[
                    i, :, sr[0] - ar : sr[1] + 1 - ar, sc[0] - ac : sc[1] + 1 - ac
                ]
            inner = stem.new_empty((n, stem.shape[1], l2r, l2c))
            starts2 = []
            for i, (sr, sc) in enumerate(spans):
                br = self._start(sr[2], l2r, self.n[0], self.halo)
                bc = self._start(sc[2], l2c, self.n[1], self.halo)
                inner[i] = stem[i, :, br : br + l2r, bc : bc + l2c]
                starts2.append((br, bc))
            local_crops = self._local(inner)
            pasted = []  # (tensor, sample, row slice, column slice): restored after the tail
            for i, (sr, sc) in enumerate(spans):
                pasted.append(
                    (stem, self.stem0, i, slice(sr[0], sr[1] + 1), slice(sc[0], sc[1] + 1))
                )
            for k, (part, crop) in enumerate(zip(parts, local_crops, strict=True)):
                for i, ((sr, sc), (br, bc)) in enumerate(zip(spans, starts2, strict=True)):
                    lo_r, hi_r = (sr[2], sr[3]) if k < 4 else (sr[0], sr[1])
                    lo_c, hi_c = (sc[2], sc[3]) if k < 4 else (sc[0], sc[1])
                    part[i, :, lo_r : hi_r + 1, lo_c : hi_c + 1] = crop[
                        i, :, lo_r - br : hi_r + 1 - br, lo_c - bc : hi_c + 1 - bc
                    ]
                    rows, cols = slice(lo_r, hi_r + 1), slice(lo_c, hi_c + 1)
                    pasted.append((part, self.local0[k], i, rows, cols))
            try:
                return self._tail(parts)
            finally:  # back to the clean maps for the next call
                for buf, clean, i, rows, cols in pasted:
                    buf[i, :, rows, cols] = clean[0, :, rows, cols]

    def _buffers(self, n: int) -> list[torch.Tensor]:
        """Feature maps of ``n`` copies of the clean image (stem, then the tail's inputs), kept
        between calls: each call pastes its windows' cells and puts the clean ones back."""
        if getattr(self, "_bufs", None) is None or self._bufs[0].shape[0] < n:
            self._bufs = [t.expand(n, -1, -1, -1).clone() for t in (self.stem0, *self.local0)]
        return [b[:n] for b in self._bufs]

    def verify(self, wins: list[Window], tolerance: float = 1e-4) -> float:
        """Max difference (relative to the largest output) between this path and the model itself
        on ``wins``; Unsupported when it exceeds ``tolerance``."""
        got = self(wins)
        batch = self.x.expand(len(wins), -1, -1, -1).clone()
        for k, (r0, r1, c0, c1) in enumerate(wins):
            batch[k, :, r0:r1, c0:c1] = self.base[0, :, r0:r1, c0:c1]
        with torch.inference_mode():
            want = self.model(batch)
        diff = float((got - want).abs().max()) / max(1.0, float(want.abs().max()))
        if not diff <= tolerance:
            raise Unsupported(f"the split model differs from the model by {diff:.2e}")
        return diff


def _session(tail: nn.Module, stem0: torch.Tensor, local0: list[torch.Tensor]):
    import onnxruntime as ort

    buf = io.BytesIO()
    names = [f"in{i}" for i in range(len(local0))]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            tail,
            tuple(t.contiguous() for t in local0),
            buf,
            input_names=names,
            output_names=["features"],
            dynamic_axes={**{k: {0: "batch"} for k in names}, "features": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])


_CACHE: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, tuple, object]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def build(
    model: nn.Module, x: torch.Tensor, base: torch.Tensor, wins: list[Window]
) -> tuple[IncrementalOSNet, torch.Tensor]:
    """The incremental path for ``model`` on image ``x`` with baseline ``base``, and the clean
    embedding ``(1, D)``. Raises Unsupported (say why) for models, inputs or devices it cannot
    split exactly; the caller then runs dense forwards."""
    if x.device.type != "cpu":
        raise Unsupported("runs on the CPU only (ONNX Runtime's CPU provider)")
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise Unsupported("onnxruntime is not installed") from exc
    halo = _check_structure(model)
    conv = model.conv1.conv
    pool = model.maxpool
    rf = _chain(
        [
            (_one(conv.kernel_size), _one(conv.stride), _one(conv.padding)),
            (_one(pool.kernel_size), _one(pool.stride), _one(pool.padding)),
        ]
    )
    fp = _fingerprint(model)
    key = (tuple(x.shape[1:]),)
    with _LOCK:
        hit = _CACHE.get(model)
    session = hit[2] if hit is not None and hit[0] == fp and hit[1] == key else None
    split = IncrementalOSNet(model, session, halo, rf)
    if session is None:
        with torch.inference_mode():
            stem0 = split._stem(x)
            local0 = split._local(stem0)
        split.session = _session(_Tail(model).eval(), stem0, local0)
    clean = split.bind(x, base, wins)
    if session is None:  # a new export: check it (and the crop geometry) on a few windows
        probe = [wins[0], wins[len(wins) // 2], wins[-1]]
        split.verify(probe)
        with _LOCK:
            _CACHE[model] = (fp, key, split.session)
    return split, clean
