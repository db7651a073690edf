"""hooks of the TempCLR project; each module registers on import."""
from .retrieval_batching import RetrievalBatchingHook  # noqa: F401
