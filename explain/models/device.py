"""Where models run: a GPU when one exists, else the CPU with a sane thread count."""

from __future__ import annotations

import os

import torch


def default_device() -> torch.device:
    """CUDA when available, then Apple's MPS, else CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def default_threads() -> int:
    """Threads for CPU work: at most 2.

    On small shared machines torch's default (one per core, plus inter-op threads) oversubscribes
    and runs 10-20× slower; two threads are close to the best on 2-8 cores for these small models.
    ``WORKBENCH_THREADS`` overrides.
    """
    env = os.environ.get("WORKBENCH_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError as exc:
            raise ValueError(f"WORKBENCH_THREADS={env!r} is not a whole number") from exc
        if n < 1:
            raise ValueError(f"WORKBENCH_THREADS must be at least 1, not {n}")
        return n
    return max(1, min(2, os.cpu_count() or 1))


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads (default :func:`default_threads`); returns the number set."""
    n = default_threads() if n is None else n
    if n < 1:
        raise ValueError(f"threads must be at least 1, not {n}")
    torch.set_num_threads(n)
    return n
