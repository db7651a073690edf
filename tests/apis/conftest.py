import importlib.util
from pathlib import Path

import pytest

from vtg_plugins.testing import feature_pipeline


def load_tiny_setups():
    """``tests/apis/tiny_setups.py`` as a module (tests are no package)."""
    path = Path(__file__).with_name('tiny_setups.py')
    spec = importlib.util.spec_from_file_location('tiny_setups', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def helpers():
    """vtg_plugins.testing.feature_pipeline (tiny videos, tiny CLIP)."""
    return feature_pipeline


@pytest.fixture(scope='session')
def setups():
    """tiny_setups: tiny R²-Tuning and GroundNLQ set-ups to infer with."""
    return load_tiny_setups()
