"""Helpers for tests, the demo and benchmarks: synthetic data generators
and access to the reference fixtures in ``../shared/refs``."""
from .configs import write_config
from .refs import ref_path, refs_root
from .synthetic import SyntheticData, make_ego4d_nlq, make_qvhighlights

__all__ = [
    'ref_path', 'refs_root', 'write_config', 'SyntheticData',
    'make_ego4d_nlq', 'make_qvhighlights'
]
