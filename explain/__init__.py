"""Model side of the workbench: checkpoints, embeddings, retrieval, heatmaps, attribution scores.

Never imports streamlit: a notebook can use every function here.
"""
