"""MMPT's projection of per-second video features onto BERT tokens."""
import torch
from torch import nn
from transformers.activations import ACT2FN


class VideoTokenMLP(nn.Module):
    """``linear1 -> activation -> LayerNorm -> linear2`` (MMPT
    ``VideoTokenMLP``; the parameter names are the official ones).

    The LayerNorm keeps PyTorch's default ``eps=1e-5``: the official module
    builds ``nn.LayerNorm(hidden_size)`` without BERT's ``layer_norm_eps``.

    Args:
        input_dim (int): feature size ``D`` (512 for MIL-NCE S3D features).
        hidden_size (int): BERT hidden size ``H``.
        hidden_act (str): activation name of ``transformers`` ``ACT2FN``
            (BERT's ``hidden_act``, ``'gelu'``).
    """

    def __init__(self,
                 input_dim: int = 512,
                 hidden_size: int = 768,
                 hidden_act: str = 'gelu') -> None:
        super().__init__()
        self.input_dim = input_dim
        self.linear1 = nn.Linear(input_dim, hidden_size)
        self.activation = ACT2FN[hidden_act]
        self.LayerNorm = nn.LayerNorm(hidden_size)
        self.linear2 = nn.Linear(hidden_size, hidden_size)

    def forward(self, vfeats: torch.Tensor) -> torch.Tensor:
        """``vfeats [N, Lv, D]`` -> video tokens ``[N, Lv, H]``."""
        if vfeats.shape[-1] != self.input_dim:
            raise ValueError(f'VideoTokenMLP expects {self.input_dim}-d video '
                             f'features, got shape {list(vfeats.shape)}')
        # features arrive float32; a half-precision model (DeepSpeed fp16)
        # takes them in its own dtype
        vfeats = vfeats.to(self.linear1.weight.dtype)
        hidden = self.activation(self.linear1(vfeats))
        return self.linear2(self.LayerNorm(hidden))
