"""Which way to improve a model: better segmentation, aligned poses, more data, cleaner posts.

Each analysis gives a number, a bootstrap interval (fixed seed) and a plot; :mod:`.recommend`
ranks the candidates by their estimated gain. ``stats`` (bootstrap), ``segmentation``
(attribution on background / animal / non-animal inside the silhouette, dark-fur mask
failures), ``pose`` (facing side, aligned retrieval, pose spread per post), ``curve`` (learning
curve from an experiment's results), ``pollution`` (shortcut finder's posts and remedy arms),
``recommend`` (the ranking), ``run`` (the pipeline on a dataset and a checkpoint), ``report``
(diagnosis.json, diagnosis.md, plots).
"""
