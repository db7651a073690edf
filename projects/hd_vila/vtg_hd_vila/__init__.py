"""HD-VILA (hybrid high-resolution / low-resolution video encoder with
BERT text and cross-modal transformers) as a vtg_plugins project.

Importing it registers the video encoder, the pre-training and downstream
models, the datasets and their transforms.
"""
import vtg_plugins  # noqa: F401  (registries and upstream fixes first)

from . import datasets, engine, models  # noqa: F401,E402
from . import embedding  # noqa: F401,E402  (zero-shot embeddings)
