"""Bottleneck adapters (AIM style) of the TSTL blocks and the fused head."""
import torch.nn as nn
from torch import Tensor

__all__ = ['Adapter']


class Adapter(nn.Module):
    """``x + fc2(gelu(fc1(x)))`` (``skip_connect=True``) or
    ``fc2(gelu(fc1(x)))``, with a bottleneck of ``int(dim * ratio)``.

    Parameter names are the official ones (``D_fc1``, ``D_fc2``).

    Args:
        dim (int): input and output width ``D``.
        ratio (float): bottleneck width over ``dim``. Default 0.25.
        skip_connect (bool): add the input to the output. Default True.
    """

    def __init__(self,
                 dim: int,
                 ratio: float = 0.25,
                 skip_connect: bool = True) -> None:
        super().__init__()
        hidden = int(dim * ratio)
        if hidden < 1:
            raise ValueError(f'Adapter: dim {dim} x ratio {ratio} leaves no '
                             'bottleneck width')
        self.skip_connect = skip_connect
        self.D_fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.D_fc2 = nn.Linear(hidden, dim)

    def zero_init_last(self) -> None:
        """Zero the up-projection: the adapter's branch starts at 0."""
        nn.init.zeros_(self.D_fc2.weight)
        nn.init.zeros_(self.D_fc2.bias)

    def forward(self, x: Tensor) -> Tensor:
        """``[..., D] -> [..., D]``."""
        out = self.D_fc2(self.act(self.D_fc1(x)))
        return x + out if self.skip_connect else out
