"""GroundNLQ data pipeline: the Ego4D NLQ / narration dataset and its
transforms (registered on import)."""
from .ego4d_nlq import Ego4DNLQDataset, parse_nlq_qid
from .text import normalize_nlq_query
from .transforms import NLQTemporalJitter, PackGroundNLQInputs

__all__ = [
    'Ego4DNLQDataset', 'NLQTemporalJitter', 'PackGroundNLQInputs',
    'normalize_nlq_query', 'parse_nlq_qid'
]
