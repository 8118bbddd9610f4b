"""Curation rules: small pure functions, each returning what it removes and why.

Every rule returns a removal table (``image, post_id, split, rule, cause, reason``, see
:mod:`curation.rules.base`); :func:`apply_rules` runs several on a dataset and returns the kept
manifest table and all removals. Every rule is declared in :mod:`curation.rules.catalog` (name,
function, inputs, description, parameter choices and defaults); a new rule is one module here
plus one record there.
"""

from curation.rules.apply import (
    RULES,
    RuleSpec,
    SplitWarning,
    apply_rules,
    describe,
    parameters,
    parse_rules,
    removed_per_split,
)
from curation.rules.base import REMOVAL_COLUMNS, removal_frame, summarise
from curation.rules.catalog import CATALOG, Param, Rule, RuleInputs, help_text, rule
from curation.rules.decisions import exclude_by_tags, one_animal_per_post
from curation.rules.duplicates import DUP_COLUMNS, duplicates
from curation.rules.homogeneous import homogeneous_artifact
from curation.rules.quality import quality_flags
from curation.rules.shortcut import shortcut

__all__ = [
    "CATALOG",
    "DUP_COLUMNS",
    "REMOVAL_COLUMNS",
    "RULES",
    "Param",
    "Rule",
    "RuleInputs",
    "RuleSpec",
    "SplitWarning",
    "apply_rules",
    "describe",
    "duplicates",
    "exclude_by_tags",
    "help_text",
    "homogeneous_artifact",
    "one_animal_per_post",
    "parameters",
    "parse_rules",
    "quality_flags",
    "removal_frame",
    "removed_per_split",
    "rule",
    "shortcut",
    "summarise",
]
