"""GroundNLQ model modules (registered in ``vtg_plugins.registry.MODELS``)."""
from .backbone import ConvTransformerBackbone, IdentityNeck
from .groundnlq import GroundNLQ
from .heads import ClsHead, RegHead

__all__ = [
    'ConvTransformerBackbone', 'IdentityNeck', 'GroundNLQ', 'ClsHead',
    'RegHead'
]
