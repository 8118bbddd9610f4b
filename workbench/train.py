"""Train a torchreid model on a dataset's train split and save a checkpoint series.

The recipe (architecture, input size, losses, schedule, seed) is written to ``recipe.json`` beside
the checkpoints so that a retrain on a curated manifest is comparable with the baseline (the
recipe and its checks: :mod:`workbench.recipe`).
Checkpoints use torchreid's own format: ``model.pth.tar-N`` holding a dict with ``state_dict``,
``epoch``, ``rank1`` (plus ``mAP``, ``arch``, ``num_classes``; ``optimizer`` only on request).

``written.json`` records every file the trainer writes there (size and SHA-256, recorded as
pending before each file is created): ``overwrite`` removes only checkpoints that record lists
unchanged, and refuses, listing them, when the folder holds anything else.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import platform
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset
from torchvision import transforms as T

from curation.dataset import Dataset
from curation.images import load_rgb
from curation.owned import RECORD, Ledger, entries_phrase, foreign_entries, read_record
from explain.models.device import default_device, set_threads
from explain.models.preprocess import IMAGENET_MEAN, IMAGENET_STD
from workbench.augment import RandomGamma, erase_region, union_mask
from workbench.recipe import Recipe, TrainingError

CHECKPOINT_PREFIX = "model.pth.tar-"
TOOL = "workbench train"
DEFAULT_RECIPE = Recipe()  # frozen, so safe as a default argument


@dataclass
class TrainEvent:
    """Progress report: ``kind`` is ``batch``, ``epoch`` or ``checkpoint``."""

    kind: str
    epoch: int
    epochs: int
    step: int = 0
    steps: int = 0
    values: dict = field(default_factory=dict)


@dataclass
class TrainResult:
    out_dir: Path
    checkpoints: list[Path]
    log: list[dict]
    seconds: float


class _TrainImages(TorchDataset):
    def __init__(
        self,
        paths: list[Path],
        labels: list[int],
        transform: T.Compose,
        masks: list[list[Path]] | None = None,
    ):
        self.paths, self.labels, self.transform, self.masks = paths, labels, transform, masks

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = load_rgb(self.paths[i])
        if self.masks is not None and self.masks[i]:
            img = erase_region(img, union_mask(self.masks[i], img.size))
        return self.transform(img), self.labels[i]


def train_transform(recipe: Recipe) -> T.Compose:
    """torchreid's training augmentations, built without its console output."""
    from explain.models.adapter import training_parts

    Random2DTranslation = training_parts().data.transforms.Random2DTranslation
    ops: list = []
    if "random_crop" in recipe.augment:
        ops.append(Random2DTranslation(recipe.height, recipe.width, p=0.5))
    else:
        ops.append(T.Resize((recipe.height, recipe.width)))
    if "random_flip" in recipe.augment:
        ops.append(T.RandomHorizontalFlip())
    if "color_jitter" in recipe.augment:
        ops.append(T.ColorJitter(brightness=0.2, contrast=0.15, saturation=0, hue=0))
    if "random_gamma" in recipe.augment:
        ops.append(RandomGamma())
    ops += [T.ToTensor(), T.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD)]
    return T.Compose(ops)


def seed_everything(seed: int) -> dict:
    """Seed python, numpy and torch; ask torch for deterministic kernels. Returns the flags set.

    ``deterministic_warn_only``: an operation without a deterministic kernel warns instead of
    failing (none of OSNet's CPU kernels needs it). Data loading runs in the main process
    (``dataloader_workers`` 0), so augmentations draw from the seeded generators in order.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    return {
        "seed": seed,
        "deterministic_algorithms": True,
        "deterministic_warn_only": True,
        "cudnn_benchmark": False,
        "cudnn_deterministic": True,
        "cublas_workspace_config": os.environ["CUBLAS_WORKSPACE_CONFIG"],
        "dataloader_workers": 0,
    }


def losses(recipe: Recipe) -> dict:
    """The losses a recipe trains with, spelled out for ``recipe.json``."""
    return {
        "softmax": {"weight": recipe.weight_softmax, "label_smooth": recipe.label_smooth},
        "triplet": {
            "weight": recipe.weight_triplet,
            "margin": recipe.triplet_margin,
            "normalize": recipe.triplet_normalize,
            "mining": "batch hard",
        },
    }


def _save(state: dict, path: Path, ledger: Ledger) -> None:
    """torch.save to a temporary file (recorded as pending first), flushed, then renamed: a
    crash never leaves half a checkpoint, nor a file the record does not know.

    Saved through a file object, so the archive's inner folder is torch's fixed ``archive``
    rather than the temporary file's name: the same weights give the same bytes (and the
    same SHA-1, the cache key)."""
    tmp = path.with_name(f".{path.name}.tmp")
    ledger.pending(tmp.name)
    try:
        with open(tmp, "xb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        ledger.forget(tmp.name)
        raise
    ledger.entries.pop(tmp.name, None)
    ledger.done(path.name)


def _write_json(path: Path, data: dict, ledger: Ledger) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    ledger.pending(tmp.name)
    with open(tmp, "w") as fh:
        fh.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    ledger.entries.pop(tmp.name, None)
    ledger.done(path.name)


def _pending_ok(name: str) -> bool:
    """Files the record may list without a hash: the trainer's temporary files and its log
    (being written when a run stopped)."""
    return name == "train_log.csv" or (name.startswith(".") and name.endswith(".tmp"))


def _written_here(name: str) -> bool:
    """Names the trainer writes (and would overwrite)."""
    return name in ("recipe.json", "train_log.csv", ".written.json.new") or _pending_ok(name)


def _prepare_out(out_dir: Path, overwrite: bool) -> Ledger:
    """Check ``out_dir`` and start its record. Removes the temporary files an earlier run
    recorded and, with ``overwrite``, its recorded checkpoints; refuses, listing them, entries
    the trainer did not write there that it would replace or that ``overwrite`` would meet."""
    rec, why = read_record(out_dir, TOOL)
    if rec is None and os.path.lexists(out_dir / RECORD):
        raise TrainingError(f"{out_dir}: {why}; training there would replace it; choose "
                            "another --out")  # fmt: skip
    if existing_checkpoints(out_dir) and not overwrite:
        raise TrainingError(
            f"{out_dir} already holds checkpoints; choose another --out or pass --overwrite"
        )
    entries = rec["entries"] if rec is not None else {}
    foreign = foreign_entries(out_dir, entries, unhashed=_pending_ok)
    if overwrite and foreign:
        raise TrainingError(
            f"{out_dir} holds {entries_phrase(foreign)} that `{TOOL}` did not write there or "
            f"that changed since ({RECORD} lists what it wrote; series trained before it have "
            "none); --overwrite removes only recorded checkpoints; move them out or choose "
            "another --out"
        )
    clash = [n for n in foreign if _written_here(n.split(" ")[0])]
    if clash:
        raise TrainingError(
            f"{out_dir} holds {entries_phrase(clash)} that `{TOOL}` did not write there; "
            "training would overwrite what is there; move them out or choose another --out"
        )
    # only names found in the folder, never paths taken from the record
    present = {e.name: e for e in os.scandir(out_dir)}
    ledger = Ledger(out_dir, TOOL, {k: v for k, v in entries.items() if k in present})
    for name in sorted(ledger.entries):
        ours = _pending_ok(name) and name != "train_log.csv"
        if (ours or (overwrite and name.startswith(CHECKPOINT_PREFIX))) and present[name].is_file(
            follow_symlinks=False
        ):
            os.unlink(out_dir / name)
            ledger.entries.pop(name)
    ledger.save()
    return ledger


def _table_sha256(table) -> str:
    """SHA-256 of the train rows' canonical CSV: two runs saw the same training data iff equal."""
    blob = table.to_csv(index=False, lineterminator="\n").encode()
    return hashlib.sha256(blob).hexdigest()


def existing_checkpoints(out_dir: Path) -> list[Path]:
    return sorted(out_dir.glob(f"{CHECKPOINT_PREFIX}*"))


LOG_COLUMNS = ["epoch", "lr", "loss_softmax", "loss_triplet", "accuracy", "seconds", "rank1", "mAP"]


@dataclass
class _Parts:
    """What one training run works with: the model, its optimizer and schedule, the losses."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object | None
    ce: torch.nn.Module
    triplet: torch.nn.Module
    device: torch.device
    num_classes: int


def train(
    dataset: Dataset,
    out_dir: str | Path,
    recipe: Recipe = DEFAULT_RECIPE,
    *,
    threads: int | None = None,
    device: str | torch.device | None = None,
    progress: Callable[[TrainEvent], None] | None = None,
    keep_optimizer: bool = False,
    overwrite: bool = False,
    evaluate: bool = True,
    based_on: dict | None = None,
) -> TrainResult:
    """Train ``recipe.arch`` on the train split of ``dataset``; write checkpoints to ``out_dir``.

    Rank-1 and mAP on the dataset's query/gallery (when both exist) are stored in each checkpoint.
    ``based_on``: where the recipe came from (e.g. ``{"recipe": path, "sha256": ...}`` of the
    baseline's ``recipe.json``), recorded in this run's ``recipe.json``.
    """
    from explain.models.adapter import training_parts

    reid = training_parts()
    recipe.validate()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = dataset.split("train")
    posts = _train_posts(rows, recipe, dataset.source or dataset.root)
    ledger = _prepare_out(out_dir, overwrite)  # after the checks: it may remove checkpoints
    threads = set_threads(threads)
    device = torch.device(device) if device is not None else default_device()
    flags = seed_everything(recipe.seed)  # before anything draws a random number
    loader = _loader(reid, dataset, rows, posts, recipe)
    parts = _parts(reid, recipe, len(posts), device)
    record = _run_record(dataset, rows, recipe, based_on, threads=threads, device=device,
                         flags=flags)  # fmt: skip
    _write_json(out_dir / "recipe.json", record, ledger)
    return _epochs(dataset, out_dir, recipe, loader, parts, ledger, progress=progress,
                   keep_optimizer=keep_optimizer, evaluate=evaluate)  # fmt: skip


def _train_posts(rows, recipe: Recipe, where) -> list:
    """The train split's posts, sorted (their index is the class label); TrainingError when a
    batch of the recipe cannot be filled from them (``where``: the dataset, for the message)."""
    posts = sorted(rows["post_id"].unique())
    per_batch = recipe.batch_size // recipe.num_instances
    if not posts:
        raise TrainingError(
            f"{where}: no train photos (only query/gallery): nothing to "
            "train on; add a train/ folder (or train rows to the manifest) with other posts"
        )
    if len(posts) < per_batch:
        raise TrainingError(
            f"the train split has {len(posts)} post(s) but a batch of {recipe.batch_size} with "
            f"{recipe.num_instances} photos per post needs {per_batch}; lower --batch-size"
        )
    return posts


def _loader(reid, dataset: Dataset, rows, posts: list, recipe: Recipe) -> DataLoader:
    """Batches of ``recipe.num_instances`` photos per post (torchreid's identity sampler)."""
    label_of = {p: i for i, p in enumerate(posts)}
    images = rows["image"].tolist()
    labels = [label_of[p] for p in rows["post_id"]]
    paths = [dataset.path(img) for img in images]  # refuses files outside the dataset root
    data = _TrainImages(paths, labels, train_transform(recipe), _erase_masks(dataset, rows, recipe))
    sampler = reid.data.sampler.RandomIdentitySampler(
        [(img, lab, 0, 0) for img, lab in zip(images, labels, strict=True)],
        recipe.batch_size,
        recipe.num_instances,
    )
    return DataLoader(data, batch_size=recipe.batch_size, sampler=sampler, drop_last=True)


def _erase_masks(dataset: Dataset, rows, recipe: Recipe) -> list[list[Path]] | None:
    """Per train row, the artifact mask files ``artifact_erasing`` erases (None when off)."""
    if "artifact_erasing" not in recipe.augment:
        return None
    cols = [c for c in rows.columns if c.startswith("mask_")]
    if not cols:
        raise TrainingError(
            "artifact_erasing erases annotated artifact regions, but the manifest has no "
            "mask_<artifact> column; drop it from the augmentations or add the masks"
        )
    return [
        [dataset.path(v) for v in rec if isinstance(v, str) and v]
        for rec in rows[cols].itertuples(index=False)
    ]


def _parts(reid, recipe: Recipe, num_classes: int, device: torch.device) -> _Parts:
    """The model (built without downloaded weights), optimizer, schedule and the two losses."""
    from explain.models.adapter import build_model

    model = build_model(recipe.arch, num_classes, loss="triplet")
    model = model.to(device=device, memory_format=torch.channels_last)
    optim_name = "adam" if recipe.optimizer == "adamw" else recipe.optimizer
    optimizer = reid.optim.build_optimizer(
        model, optim=optim_name, lr=recipe.lr, weight_decay=recipe.weight_decay
    )
    scheduler = None
    if recipe.scheduler != "none":
        scheduler = reid.optim.build_lr_scheduler(
            optimizer,
            lr_scheduler=recipe.scheduler,
            stepsize=max(1, recipe.epochs // 2),
            max_epoch=recipe.epochs,
        )
    ce = reid.losses.CrossEntropyLoss(
        num_classes, use_gpu=device.type == "cuda", label_smooth=recipe.label_smooth
    )
    triplet = reid.losses.TripletLoss(margin=recipe.triplet_margin)
    return _Parts(model, optimizer, scheduler, ce, triplet, device, num_classes)


def _run_record(dataset: Dataset, rows, recipe: Recipe, based_on, *, threads, device, flags):
    """What ``recipe.json`` records about this run (recipe, data, machine, determinism)."""
    return {
        "recipe": recipe.to_dict(),
        "losses": losses(recipe),
        "based_on": based_on,
        "dataset": dataset.source,
        "train_posts": int(rows["post_id"].nunique()),
        "train_images": len(rows),
        "train_sha256": _table_sha256(rows[["image", "post_id", "photo", "camid"]]),
        "threads": threads,
        "device": str(device),
        "determinism": flags,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def _epochs(dataset, out_dir: Path, recipe: Recipe, loader, parts: _Parts, ledger: Ledger, *,
            progress, keep_optimizer: bool, evaluate: bool) -> TrainResult:  # fmt: skip
    """Every epoch: one pass over the loader, a checkpoint at the recipe's epochs, one line of
    ``train_log.csv`` (flushed, recorded in the ledger)."""
    log_path = out_dir / "train_log.csv"
    log: list[dict] = []
    saved: list[Path] = []
    start = time.perf_counter()
    steps = len(loader)
    ledger.pending(log_path.name)
    with open(log_path, "w", newline="") as log_file:
        writer = csv.DictWriter(log_file, fieldnames=LOG_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for epoch in range(1, recipe.epochs + 1):
            entry = _epoch(loader, parts, recipe, epoch, progress)
            if epoch in recipe.checkpoints:
                metrics = _evaluate(parts.model, dataset, recipe, parts.device) if evaluate else {}
                entry.update(metrics)
                path = _checkpoint(out_dir, parts, recipe, epoch, metrics, ledger, keep_optimizer)
                saved.append(path)
                if progress:
                    values = {"path": str(path), **metrics}
                    progress(TrainEvent("checkpoint", epoch, recipe.epochs, values=values))
            log.append(entry)
            writer.writerow(entry)
            log_file.flush()
            ledger.done(log_path.name, grows=True)
            if progress:
                progress(TrainEvent("epoch", epoch, recipe.epochs, steps, steps, entry))
    return TrainResult(out_dir, saved, log, time.perf_counter() - start)


def _epoch(loader, parts: _Parts, recipe: Recipe, epoch: int, progress) -> dict:
    """One pass over the loader; the epoch's log entry (mean losses and accuracy, the learning
    rate it ran at, seconds)."""
    t0 = time.perf_counter()
    model, device, steps = parts.model, parts.device, len(loader)
    model.train()
    sums = {"loss_softmax": 0.0, "loss_triplet": 0.0, "accuracy": 0.0}
    for step, (x, y) in enumerate(loader, 1):
        x = x.to(device, memory_format=torch.channels_last)
        y = y.to(device)
        logits, feats = model(x)
        if recipe.triplet_normalize:
            feats = torch.nn.functional.normalize(feats, dim=1)
        loss_x, loss_t = parts.ce(logits, y), parts.triplet(feats, y)
        loss = recipe.weight_softmax * loss_x + recipe.weight_triplet * loss_t
        parts.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        parts.optimizer.step()
        sums["loss_softmax"] += loss_x.item()
        sums["loss_triplet"] += loss_t.item()
        sums["accuracy"] += (logits.argmax(1) == y).float().mean().item()
        if progress:
            values = {"loss": loss.item()}
            progress(TrainEvent("batch", epoch, recipe.epochs, step, steps, values))
    lr = parts.optimizer.param_groups[0]["lr"]
    if parts.scheduler is not None:
        parts.scheduler.step()
    entry = {"epoch": epoch, "lr": lr, **{k: v / max(steps, 1) for k, v in sums.items()}}
    entry["seconds"] = time.perf_counter() - t0
    return entry


def _checkpoint(out_dir: Path, parts: _Parts, recipe: Recipe, epoch: int, metrics: dict,
                ledger: Ledger, keep_optimizer: bool) -> Path:  # fmt: skip
    """Save ``model.pth.tar-EPOCH`` in torchreid's format (weights on the CPU)."""
    state = {
        "state_dict": {k: v.detach().cpu() for k, v in parts.model.state_dict().items()},
        "epoch": epoch,
        "rank1": float(metrics.get("rank1", float("nan"))),
        "mAP": float(metrics.get("mAP", float("nan"))),
        "arch": recipe.arch,
        "num_classes": parts.num_classes,
        "height": recipe.height,
        "width": recipe.width,
    }
    if keep_optimizer:
        state["optimizer"] = parts.optimizer.state_dict()
    path = out_dir / f"{CHECKPOINT_PREFIX}{epoch}"
    _save(state, path, ledger)
    return path


@torch.no_grad()
def _evaluate(
    model: torch.nn.Module, dataset: Dataset, recipe: Recipe, device: torch.device
) -> dict:
    """Rank-1 and mAP on query/gallery with torchreid's protocol (empty dict without them, or
    when no query has a true match: a gallery photo of its post with another camid)."""
    from explain.retrieval.embeddings import extract
    from explain.retrieval.metrics import evaluate

    query, gallery = dataset.split("query"), dataset.split("gallery")
    pairs = query[["post_id", "camid"]].merge(gallery[["post_id", "camid"]], on="post_id")
    if not (pairs["camid_x"] != pairs["camid_y"]).any():
        return {}
    images = [*query["image"], *gallery["image"]]
    feats = extract(
        model,
        [dataset.path(img) for img in images],
        height=recipe.height,
        width=recipe.width,
        device=device,
    )
    result = evaluate(feats[: len(query)], feats[len(query) :], query, gallery, k=1, max_rank=1)
    return {"rank1": result.summary["rank1"], "mAP": result.summary["mAP"]}
