"""Models: a checkpoint file turned into an embedding model, read as untrusted input.

- :mod:`~explain.models.adapter`: the one module that imports torchreid (build a model, training
  parts, the reference evaluator);
- :mod:`~explain.models.zoo`: which torchreid architecture a state_dict belongs to;
- :mod:`~explain.models.checkpoints`: find checkpoint files, read them safely
  (:mod:`~explain.models.checkpoint_files` checks the file, :mod:`~explain.models.checkpoint_values`
  its numbers and weights, against the bounds in :mod:`~explain.models.limits`), load a model;
- :mod:`~explain.models.series`: every checkpoint of a folder, one per epoch;
- :mod:`~explain.models.device`: CPU/GPU choice and torch threads;
- :mod:`~explain.models.preprocess`: an image as the model's normalised input tensor;
- :mod:`~explain.models.engine`: a model's forwards without gradients, batched and fast (ONNX
  Runtime, TorchScript or eager), for embeddings and perturbation methods.
"""

from explain._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "adapter": ("available_models", "build_model"),
        "checkpoint_files": ("CheckpointError",),
        "checkpoints": (
            "CheckpointFile",
            "LoadedModel",
            "describe",
            "discover",
            "load_model",
            "read_checkpoint",
        ),
        "series": ("Series", "load_series"),
        "device": ("default_device", "default_threads", "set_threads"),
        "limits": ("LimitError",),
        "preprocess": ("IMAGENET_MEAN", "IMAGENET_STD", "to_input"),
    },
)
