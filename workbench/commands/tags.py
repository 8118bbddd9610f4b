"""`workbench tags`: put images in buckets, tag artifacts, flag posts, undo, list and export."""

from __future__ import annotations

from pathlib import Path

import click

from curation.vocabulary import BUCKETS
from workbench import settings
from workbench.commands.options import default_annotator, default_store


class _Ctx:
    def __init__(self, store: str, annotator: str | None, data: Path | None):
        self.store_url = store
        self.annotator = annotator
        self.data = data
        self._store = None

    def store(self):
        from curation.dataset import load_dataset
        from curation.findings import DatasetError
        from curation.store import StoreError, TagStore

        if self._store is None:
            try:
                ds = load_dataset(self.data, check="none") if self.data is not None else None
                self._store = TagStore(self.store_url, dataset=ds)
            except (DatasetError, StoreError) as exc:
                raise click.ClickException(str(exc)) from exc
        return self._store

    def who(self) -> str:
        if not self.annotator:
            raise click.UsageError("say who you are: --annotator NAME (or WORKBENCH_ANNOTATOR)")
        return self.annotator


def _run(fn):
    """Call ``fn``; turn the store's refusals into a clean error message."""
    from curation.regions import RegionError
    from curation.store import StoreBusyError, StoreError

    try:
        return fn()
    except (StoreError, RegionError, StoreBusyError) as exc:
        raise click.ClickException(str(exc)) from exc


def _split_list(value: str) -> list[str]:
    if value.strip().lower() in ("", "none", "-"):
        return []
    return [v.strip() for v in value.split(",") if v.strip()]


@click.group("tags")
@click.option(
    "--store",
    default=default_store,
    show_default="settings: WORKBENCH_STORE, else <workspace>/tags.sqlite",
    help="SQLite file or SQLAlchemy URL (postgresql+psycopg://user@host/db).",
)
@click.option(
    "--annotator",
    default=default_annotator,
    help="Who is tagging (default: WORKBENCH_ANNOTATOR, else your login name).",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path, exists=True),
    default=lambda: settings.load().configured("data"),
    help="Dataset folder or manifest: image ids and region bounds are checked against it.",
)
@click.pass_context
def command(ctx: click.Context, store: str, annotator: str | None, data: Path | None) -> None:
    """Annotators' tags: buckets (worked / missed / spurious), artifacts with regions, post
    flags. Every action is an event; `undo` reverts your last one."""
    ctx.obj = _Ctx(store, annotator, data)
    ctx.call_on_close(lambda: ctx.obj._store is not None and ctx.obj._store.close())


@command.command("bucket")
@click.argument("images", nargs=-1, required=True)
@click.argument("bucket", type=click.Choice([*BUCKETS, "none"]))
@click.option("--suggested", default=None, help="The bucket the workbench suggested.")
@click.option("--model", default=None, help="Checkpoint (or series) on screen.")
@click.option("--epoch", type=int, default=None, help="Epoch on screen.")
@click.option("--note", default=None)
@click.pass_obj
def bucket_cmd(obj: _Ctx, images, bucket, suggested, model, epoch, note) -> None:
    """Put IMAGES (manifest paths, e.g. query/10631_2.jpg) in BUCKET (`none` clears it).
    `add` is the same command."""
    from curation.store import TagEvent

    events = [
        TagEvent(
            image, obj.who(), "bucket", bucket=None if bucket == "none" else bucket,
            suggested=suggested, model=model, epoch=epoch, note=note,
        )
        for image in images
    ]  # fmt: skip
    ids = _run(lambda: obj.store().add_many(events))
    click.echo(f"{len(ids)} image(s) -> {bucket} (events {ids[0]}..{ids[-1]})")


command.add_command(bucket_cmd, name="add")


@command.command("artifacts")
@click.argument("image")
@click.argument("artifacts")
@click.option(
    "--region",
    "regions",
    multiple=True,
    help="ARTIFACT:box:x0,y0,x1,y1 or ARTIFACT:polygon:x1,y1,x2,y2,x3,y3 in pixels of the "
    "original image; repeat for several.",
)
@click.option("--model", default=None)
@click.option("--epoch", type=int, default=None)
@click.option("--note", default=None)
@click.pass_obj
def artifacts_cmd(obj: _Ctx, image, artifacts, regions, model, epoch, note) -> None:
    """Set the artifacts of IMAGE: a comma list (tongue,glare) or `none` to clear."""
    from curation.regions import parse_region

    def do() -> int:
        parsed = [parse_region(r) for r in regions]
        return obj.store().set_artifacts(
            image, _split_list(artifacts), obj.who(), regions=parsed or None,
            model=model, epoch=epoch, note=note,
        )  # fmt: skip

    event_id = _run(do)
    click.echo(f"{image}: artifacts {artifacts} (event {event_id})")


@command.command("flag")
@click.argument("target")
@click.argument("flags")
@click.option("--image", "is_image", is_flag=True, help="TARGET is an image, not a post.")
@click.option("--note", default=None)
@click.pass_obj
def flag_cmd(obj: _Ctx, target, flags, is_image, note) -> None:
    """Set the flags of post TARGET: multiple-animals, exclude (comma list; `none` clears)."""
    store_fn = obj.store().flag_image if is_image else obj.store().flag_post
    event_id = _run(lambda: store_fn(target, _split_list(flags), obj.who(), note=note))
    click.echo(f"{'image' if is_image else 'post'} {target}: flags {flags} (event {event_id})")


@command.command("note")
@click.argument("target")
@click.argument("text")
@click.option("--post", "is_post", is_flag=True, help="TARGET is a post id.")
@click.pass_obj
def note_cmd(obj: _Ctx, target, text, is_post) -> None:
    """Attach TEXT to an image (or a post with --post); an empty TEXT clears it."""
    kind = "post" if is_post else "image"
    event_id = _run(lambda: obj.store().set_note(target, text, obj.who(), target_kind=kind))
    click.echo(f"{kind} {target}: note saved (event {event_id})")


@command.command("undo")
@click.pass_obj
def undo_cmd(obj: _Ctx) -> None:
    """Undo your last action (run again to go further back)."""
    ev = _run(lambda: obj.store().undo(obj.who()))
    if ev is None:
        click.echo(f"nothing to undo for {obj.who()}")
        return
    click.echo(f"undid {ev['action']} on {ev['target_kind']} {ev['target']} (event {ev['id']})")


@command.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "csv"]), default="table")
@click.option("--posts", is_flag=True, help="List post flags instead of images.")
@click.option("--who", default=None, help="Only this annotator's decisions.")
@click.pass_obj
def list_cmd(obj: _Ctx, fmt, posts, who) -> None:
    """Current state: one row per tagged image (or per flagged post)."""
    from curation.regions import regions_json

    store = obj.store()
    df = _run(lambda: store.post_flags() if posts else store.current(annotator=who))
    if "regions" in df.columns:
        df = df.assign(regions=[regions_json(r) if r else "" for r in df["regions"]])
    if fmt == "csv":
        click.echo(df.to_csv(index=False, lineterminator="\n"), nl=False)
    elif df.empty:
        click.echo("no tags yet")
    else:
        if "regions" in df.columns:  # shown, compactly: the CSV carries the full JSON
            df = df.assign(regions=[_regions_text(r) for r in df["regions"]])
        shown = df.astype(object).where(df.notna(), "")
        click.echo(shown.replace({None: ""}).to_string(index=False))


def _regions_text(raw: str) -> str:
    """``tongue box 10,10-40,40; hands polygon (5 points)`` from the regions JSON."""
    import json

    if not raw:
        return ""
    parts = []
    for r in json.loads(raw):
        pts = r.get("points", [])
        if r.get("kind") == "box" and len(pts) == 2:
            (x0, y0), (x1, y1) = pts
            parts.append(f"{r.get('artifact')} box {x0:g},{y0:g}-{x1:g},{y1:g}")
        else:
            parts.append(f"{r.get('artifact')} {r.get('kind')} ({len(pts)} points)")
    return "; ".join(parts)


@command.command("history")
@click.argument("image", required=False)
@click.option("--post", default=None, help="Events on this post.")
@click.option("--who", default=None, help="Only this annotator's events.")
@click.pass_obj
def history_cmd(obj: _Ctx, image, post, who) -> None:
    """Every event (oldest first), with undone ones marked."""
    df = _run(lambda: obj.store().history(image, post=post, annotator=who))
    if df.empty:
        click.echo("no events")
        return
    cols = ["id", "time", "annotator", "target", "action", "bucket", "artifacts", "flags",
            "note", "undone"]  # fmt: skip
    click.echo(df[cols].to_string(index=False))


@command.command("export")
@click.argument("out", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_obj
def export_cmd(obj: _Ctx, out: Path) -> None:
    """Write the current state of every image to OUT as CSV (regions as JSON)."""
    path = _run(lambda: obj.store().export_csv(out))
    click.echo(f"wrote {path}")


@command.command("vocab")
@click.option("--add", "add", multiple=True, help="Add an artifact tag.")
@click.option("--remove", "remove", multiple=True, help="Stop accepting a tag in new events.")
@click.pass_obj
def vocab_cmd(obj: _Ctx, add, remove) -> None:
    """Show (or change) the artifact vocabulary."""
    store = obj.store()
    for tag in add:
        _run(lambda t=tag: store.add_tag(t, obj.who()))
    for tag in remove:
        _run(lambda t=tag: store.remove_tag(t))
    click.echo(", ".join(_run(store.vocabulary)))


def _override(obj: _Ctx, store: str | None, data: Path | None) -> None:
    """A subcommand's own --store/--data take the place of the group's."""
    if store is not None:
        obj.store_url = store
    if data is not None:
        obj.data = data


_store_here = click.option("--store", default=None, help="Tag store (overrides tags --store).")
_data_here = click.option(
    "--data",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="Dataset folder or manifest whose tags to read (overrides tags --data).",
)


def _kappa(value: float) -> str:
    import math

    return "undefined" if math.isnan(value) else f"{value:.3f}"


@command.command("agreement")
@_store_here
@_data_here
@click.pass_obj
def agreement_cmd(obj: _Ctx, store, data) -> None:
    """Agreement between annotators on buckets: Cohen's kappa per pair (queries both decided),
    Fleiss' kappa over all of them (queries all decided), then the conflicts: images where
    their buckets or artifact sets differ."""
    _override(obj, store, data)
    result = _run(lambda: obj.store().agreement())
    if len(result.annotators) < 2:
        who = ", ".join(result.annotators) or "nobody"
        click.echo(f"buckets decided by {who}: agreement needs two annotators or more")
    else:
        click.echo(f"annotators: {', '.join(result.annotators)}")
        for r in result.pairs.itertuples(index=False):
            agreed = "" if r.queries == 0 else f", agreed {r.agreed:.0%}"
            click.echo(f"{r.annotator_a} vs {r.annotator_b}: Cohen's kappa {_kappa(r.kappa)} "
                       f"over {r.queries} queries{agreed}")  # fmt: skip
        label = {"cohen": "Cohen's", "fleiss": "Fleiss'"}[result.method]
        click.echo(f"overall: {label} kappa {_kappa(result.overall)} over "
                   f"{result.overall_queries} queries all decided")  # fmt: skip
    if result.conflicts.empty:
        click.echo("conflicts: none")
        return
    click.echo(f"conflicts: {len(result.conflicts)}")
    for r in result.conflicts.itertuples(index=False):
        click.echo(f"  {r.image}  {r.kind}: {r.decisions}")


@command.command("detections")
@click.option("--min-score", type=click.FloatRange(0, 1), default=None)
@click.option("--all", "show_all", is_flag=True, help="Also results below the threshold.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv"]), default="table")
@click.pass_obj
def detections_cmd(obj: _Ctx, min_score, show_all, fmt) -> None:
    """Machine tags: each image's current detections (newest detector version) and their
    review (confirmed / rejected / unreviewed)."""
    df = _run(lambda: obj.store().detections(min_score=min_score, detected_only=not show_all))
    df = df.drop(columns=["regions"]).assign(regions=[len(r) for r in df["regions"]])
    if fmt == "csv":
        click.echo(df.to_csv(index=False, lineterminator="\n"), nl=False)
    elif df.empty:
        click.echo("no detections (run `workbench detect --to-store`)")
    else:
        cols = ["image", "artifact", "score", "detector", "review", "reviewed_by"]
        click.echo(df[cols].astype(object).where(df[cols].notna(), "").to_string(index=False))


@command.command("review")
@click.argument("image")
@click.argument("artifact")
@click.argument("detector")
@click.argument("verdict", type=click.Choice(["confirm", "reject"]))
@click.option("--note", default=None)
@click.pass_obj
def review_cmd(obj: _Ctx, image, artifact, detector, verdict, note) -> None:
    """Confirm or reject the detection of ARTIFACT on IMAGE by DETECTOR (e.g. hands, or
    detector:hands@1). `undo` reverts it."""
    event_id = _run(lambda: obj.store().review_detection(
        image, artifact, detector, verdict, annotator=obj.who(), note=note))  # fmt: skip
    click.echo(f"{image}: {artifact} by {detector} {verdict}ed (event {event_id})")


@command.command("views")
@click.option("--page", default=None, help="Only the views of this page (e.g. triage).")
@click.option("--delete", "delete", default=None, metavar="NAME", help="Delete this view.")
@_store_here
@_data_here
@click.pass_obj
def views_cmd(obj: _Ctx, page, delete, store, data) -> None:
    """The saved views of this dataset (name, page, filters)."""
    import json

    _override(obj, store, data)
    if delete is not None:
        _run(lambda: obj.store().delete_view(delete))
        click.echo(f"deleted view {delete}")
        return
    df = _run(lambda: obj.store().views(page))
    if df.empty:
        click.echo("no saved views")
        return
    for r in df.itertuples(index=False):
        params = json.dumps(r.params, sort_keys=True, ensure_ascii=False)
        click.echo(f"{r.name}  [{r.page}]  {params}  (by {r.annotator})")
