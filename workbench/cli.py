"""The `workbench` command line. Subcommands call the same library functions the app pages call.

Subcommands are imported lazily so that ``workbench --help`` answers without importing torch.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from workbench import __version__

# name -> (module under workbench.commands, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("generate", "Write the synthetic pet re-ID sample dataset."),
    "validate": ("validate", "Load a dataset folder or manifest and report every problem."),
    "train": ("train", "Train a torchreid model and save a checkpoint series."),
    "experiment": ("experiment", "Train arms x seeds and compare curation remedies."),
    "checkpoints": ("checkpoints", "List a checkpoint series and what each file holds."),
    "evaluate": ("evaluate", "Retrieval metrics (mAP, CMC, mINP) per checkpoint."),
    "confidence": ("confidence", "Calibrated match confidence and a precision/recall threshold."),
    "duplicates": ("duplicates", "Exact and near duplicates inside posts and reposts across."),
    "explain": ("explain", "Heatmaps per epoch, attribution scores and faithfulness checks."),
    "suggest": ("suggest", "Suggested bucket of every query (worked, missed, spurious)."),
    "tags": ("tags", "Tag store: add, list, undo, export annotators' tags."),
    "export": ("export", "Apply curation rules and write a cleaned training manifest."),
    "compare": ("compare", "Compare two checkpoint series (metrics, artifact mass, heatmaps)."),
    "detect": ("detect", "Artifact detectors (hands, tongue, grass, glare, collar, text ...)."),
    "diagnose": ("diagnose", "Which way to improve: segmentation, pose, data, polluted posts."),
    "shortcuts": ("shortcuts", "Posts matched through an artifact: data, reliance, combined."),
}


def _state_errors() -> tuple[type[Exception], ...]:
    """The store's and the cache's error classes, from the modules already imported (a command
    that never imported them cannot raise them; importing them here would cost every command)."""
    found = []
    for module, name in (
        ("curation.store_db", "StoreError"),
        ("explain.storage.cache", "CacheError"),
    ):
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None:
            found.append(cls)
    return tuple(found)


def _available(name: str) -> bool:
    """A subcommand exists once its module does (they are added as the library grows)."""
    return importlib.util.find_spec(f"workbench.commands.{SUBCOMMANDS[name][0]}") is not None


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in SUBCOMMANDS if _available(n))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS or not _available(cmd_name):
            return None
        module = importlib.import_module(f"workbench.commands.{SUBCOMMANDS[cmd_name][0]}")
        return module.command

    def invoke(self, ctx: click.Context):
        """Run the subcommand. What only fails midway becomes a message, not a traceback: a tag
        store or cache that cannot be used (not a database, read-only, a full disk, a newer schema,
        a damaged cache folder), or a bad image or dataset met after loading (e.g. a truncated JPEG
        during training); commands catch what they expect at load themselves."""
        from curation.findings import DatasetError
        from curation.images import ImageReadError

        try:
            return super().invoke(ctx)
        except _state_errors() as exc:
            raise click.ClickException(str(exc)) from exc
        except ImageReadError as exc:
            raise click.ClickException(
                f"{exc}\n`workbench validate DATA` decodes every image and lists each such file; "
                "--drop-bad skips them when the data is loaded"
            ) from exc
        except DatasetError as exc:
            raise click.ClickException(str(exc)) from exc

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="workbench")
def main() -> None:
    """Explainability and dataset curation for re-identification models."""


if __name__ == "__main__":
    main()
