"""Data side of the workbench: datasets and manifests, tags, curation rules, export.

Never imports streamlit: a notebook can use every function here.
"""

from curation.dataset import (
    GT_ARTIFACTS,
    REQUIRED_COLUMNS,
    SPLITS,
    Dataset,
    load_dataset,
    load_folder,
    load_manifest,
    parse_name,
)
from curation.findings import DatasetError, Finding
from curation.images import ImageReadError, load_rgb

__all__ = [
    "GT_ARTIFACTS",
    "REQUIRED_COLUMNS",
    "SPLITS",
    "Dataset",
    "DatasetError",
    "Finding",
    "ImageReadError",
    "load_dataset",
    "load_folder",
    "load_manifest",
    "load_rgb",
    "parse_name",
]
