"""Visual tokens of HD-VILA's cross-modal transformer (official
``modeling_stage.py: VisualInputEmbedding``).

The video encoder's feature grid ``[N, h, w, C]`` gets a learned row and a
learned column position embedding, is flattened to ``h * w`` tokens, gets
the one visual token-type embedding, then LayerNorm and dropout.

While training, ``pixel_random_sampling_size > 0`` keeps a random subset of
that many tokens (the same subset for every row of the batch, in grid
order), as the official model does in pre-training; in eval mode every
token is kept. The subset is drawn with ``torch.randperm`` from an optional
``torch.Generator`` (the official code draws it with ``np.random.choice``:
the same distribution, another random stream).

What the official module defines but never reads is left out: its
``position_embeddings`` table (1-D positions are never added) and the
temporal position embedding (HD-VILA feeds one fused frame per clip, so
its mean over frames is the identity). A converter drops the official
``visual_embeddings.position_embeddings.weight``.
"""
from typing import Optional

import torch
from torch import nn


def sample_token_indices(
        num_tokens: int,
        num_samples: int,
        generator: Optional[torch.Generator] = None,
        device: Optional[torch.device] = None) -> torch.Tensor:
    """Sorted indices of a uniformly random subset of the tokens.

    Args:
        num_tokens: tokens to choose from (``h * w``).
        num_samples: subset size; every index when it is ``>= num_tokens``.
        generator: a CPU ``torch.Generator`` (None: torch's global RNG).
        device: device of the returned indices.

    Returns:
        ``[min(num_samples, num_tokens)]`` long, ascending.
    """
    if num_samples >= num_tokens:
        return torch.arange(num_tokens, device=device)
    picked = torch.randperm(num_tokens, generator=generator)[:num_samples]
    return picked.sort().values.to(device)


class VisualInputEmbedding(nn.Module):
    """Grid features -> visual tokens of the cross-modal transformer.

    Args:
        hidden_size: ``C``, the BERT hidden size (the grid's channels).
        max_rows: rows of the row position table (official
            ``max_grid_row_position_embeddings``, 100).
        max_cols: columns of the column table
            (``max_grid_col_position_embeddings``, 100).
        layer_norm_eps: LayerNorm epsilon (BERT's 1e-12).
        dropout: dropout probability (BERT's ``hidden_dropout_prob``).
        pixel_random_sampling_size: visual tokens kept while training
            (0 keeps all; official pre-training uses 160).
    """

    def __init__(self,
                 hidden_size: int,
                 max_rows: int = 100,
                 max_cols: int = 100,
                 layer_norm_eps: float = 1e-12,
                 dropout: float = 0.1,
                 pixel_random_sampling_size: int = 0) -> None:
        super().__init__()
        if pixel_random_sampling_size < 0:
            raise ValueError('pixel_random_sampling_size must be >= 0, got '
                             f'{pixel_random_sampling_size}')
        self.pixel_random_sampling_size = pixel_random_sampling_size
        self.row_position_embeddings = nn.Embedding(max_rows, hidden_size)
        self.col_position_embeddings = nn.Embedding(max_cols, hidden_size)
        self.token_type_embeddings = nn.Embedding(1, hidden_size)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self,
                grid: torch.Tensor,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """
        Args:
            grid: ``[N, h, w, C]`` features of one fused frame per row.
            generator: CPU generator of the training-time token subset.

        Returns:
            ``[N, Lv, C]`` tokens, ``Lv = h * w`` (or the sampling size
            while training).
        """
        if grid.dim() != 4:
            raise ValueError('VisualInputEmbedding expects a grid [N, h, w, '
                             f'C], got {list(grid.shape)}')
        num, height, width, channels = grid.shape
        max_rows = self.row_position_embeddings.num_embeddings
        max_cols = self.col_position_embeddings.num_embeddings
        if height > max_rows or width > max_cols:
            raise ValueError(f'a {height}x{width} grid exceeds the position '
                             f'tables ({max_rows} rows, {max_cols} columns)')
        rows = self.row_position_embeddings.weight[:height]
        cols = self.col_position_embeddings.weight[:width]
        grid = grid + rows.view(height, 1, channels)
        grid = grid + cols.view(1, width, channels)
        tokens = grid.reshape(num, height * width, channels)
        if self.training and self.pixel_random_sampling_size > 0:
            keep = sample_token_indices(height * width,
                                        self.pixel_random_sampling_size,
                                        generator, tokens.device)
            tokens = tokens.index_select(1, keep)
        tokens = tokens + self.token_type_embeddings.weight[0]
        return self.dropout(self.LayerNorm(tokens))
