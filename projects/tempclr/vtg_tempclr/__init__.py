"""TempCLR (VideoCLIP's dual encoder trained with DTW/OTAM sequence
alignment) as a vtg_plugins project.

Importing it registers the encoders, the dual-encoder and step-localizer
models, the alignment losses, the HowTo100M / YouCook2 / MSR-VTT /
CrossTask / few-shot datasets and their transforms, and the hooks.
"""
import vtg_plugins  # noqa: F401  (registries and upstream fixes first)

from . import datasets, engine, models  # noqa: F401,E402
from . import embedding  # noqa: F401,E402  (zero-shot embeddings)
