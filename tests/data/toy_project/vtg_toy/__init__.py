"""A throw-away plugin project: registers one model on import."""
import vtg_plugins  # noqa: F401
from vtg_plugins.registry import MODELS
from vtg_plugins.testing.toy import ToyRegressor


@MODELS.register_module()
class ToyPluginRegressor(ToyRegressor):
    """The smoke regressor under a name only this plugin registers."""
