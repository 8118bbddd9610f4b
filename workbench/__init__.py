"""Command line, training and sample data of the re-ID explainability and curation workbench."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reid-workbench")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
