"""Controlled experiments that answer "does curation help?": arms × seeds, the same recipe,
a random-drop control, learning-curve arms, intervals over seeds and queries.

:func:`~workbench.experiment.runner.run_grid` trains the grid (resumably),
:func:`~workbench.experiment.results.write_results` writes results.csv/.json/.html.
"""
