"""Model side of the workbench, one subpackage per step of the flow:

- :mod:`explain.models`: checkpoint files -> embedding models (torchreid behind one adapter);
- :mod:`explain.retrieval`: embeddings -> faiss search -> metrics, epochs, match confidence,
  duplicates;
- :mod:`explain.heatmaps`: where the model looks (Grad-CAM family, occlusion ...; one module per
  method in ``heatmaps/methods/``), per checkpoint, cached, scored, rendered;
- :mod:`explain.checks`: whether a heatmap method explains the model (randomisation,
  faithfulness) and what the maps say on ground truth;
- :mod:`explain.compare`: a baseline series against a retrain on curated data, as a report;
- :mod:`explain.storage`: the disk cache and the content hashes its keys are made of.

Pure functions and classes: never imports streamlit, the app or the command line, so a notebook
can use every function here.
"""
