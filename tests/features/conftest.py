import pytest

from vtg_plugins.testing import feature_pipeline


@pytest.fixture
def helpers():
    """vtg_plugins.testing.feature_pipeline (tiny videos, tiny CLIP,
    reference CLIP forwards)."""
    return feature_pipeline
