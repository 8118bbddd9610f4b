"""Session-state keys, shared by the sidebar and the pages, and the messages that name a fix.

Every widget key of the workspace and every value a page keeps between runs is one of these
constants, so two pages never spell one key differently.
"""

from __future__ import annotations

TOP_K = 10
FIX_DATA = "Enter a dataset folder (train/ query/ gallery/) or a manifest .csv/.parquet."
FIX_CHECKPOINTS = "Enter a folder with model.pth.tar-N files in the sidebar."

# session-state keys (widgets and page state)
K_DATA = "workspace.data"
K_CHECKPOINTS = "workspace.checkpoints"
K_STORE = "workspace.store"
K_ANNOTATOR = "workspace.annotator"
K_RELOAD = "workspace.reload"
K_QUERY = "explore.query"  # the query a page is looking at (shared by Heatmaps and Triage)
# the match-confidence threshold chosen on the Checkpoints page, read by Search:
# {"checkpoint": label, "calibration": name, "threshold": float in [0, 1], "target": precision}
K_THRESHOLD = "ckpt.chosen_threshold"
DEFAULT_THRESHOLD = 0.5  # used until a threshold is chosen for the checkpoint on screen
