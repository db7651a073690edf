"""Helpers for tests, the demo and benchmarks: synthetic data generators,
access to the reference fixtures (``VTG_REFS``) and the parity report of
the projects' ``check_parity.py`` tools."""
from .configs import write_config
from .parity import ParityReport
from .refs import ref_path, refs_root
from .synthetic import SyntheticData, make_ego4d_nlq, make_qvhighlights

__all__ = [
    'ref_path', 'refs_root', 'write_config', 'ParityReport', 'SyntheticData',
    'make_ego4d_nlq', 'make_qvhighlights'
]
