"""What every HD-VILA model shares: the video encoder, the BERT config,
the clip grids and the text rows of a batch.

Batch layout (the ``HDVILADataPreprocessor`` output): ``inputs`` is
``dict(keyframes [B, clips, 3, Hk, Wk], frames [B, clips, T - 1, 3, Hl,
Wl])`` (either may be None or absent for the keyframe-only / frames-only
encoders), and each data sample carries its token ids (``text_ids`` /
``text_mask`` ``[L]``, or ``option_ids`` / ``option_mask`` ``[K, L]``).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement

from vtg_plugins.registry import MODELS
from .bert_towers import build_bert_config


def stack_text(samples: Sequence[BaseDataElement], ids_key: str, mask_key: str,
               device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """The token rows of the samples, padded to the longest.

    Args:
        samples: data samples, each with ``ids_key`` and ``mask_key`` of
            one shape, ``[L]`` (one row) or ``[K, L]`` (K rows, the same K
            for every sample).
        ids_key, mask_key: field names (``text_ids``/``text_mask`` or
            ``option_ids``/``option_mask``).
        device: device of the result.

    Returns:
        ``ids`` and ``mask`` ``[sum of rows, L_max]`` long, sample-major,
        padded with id 0 and mask 0.

    Raises:
        ValueError: naming the sample and the missing / mis-shaped field.
    """
    ids_rows, mask_rows = [], []
    for i, sample in enumerate(samples):
        for key in (ids_key, mask_key):
            if key not in sample:
                raise ValueError(f'data sample {i} has no {key!r}')
        ids = torch.as_tensor(sample.get(ids_key)).long()
        mask = torch.as_tensor(sample.get(mask_key)).long()
        if ids.dim() == 1:
            ids, mask = ids[None], mask[None]
        if ids.dim() != 2 or ids.shape != mask.shape:
            raise ValueError(f'data sample {i}: {ids_key} {list(ids.shape)}'
                             f' and {mask_key} {list(mask.shape)} must be '
                             'one shape, [L] or [K, L]')
        if ids_rows and len(ids) != len(ids_rows[0]):
            raise ValueError(f'data sample {i} has {len(ids)} {ids_key} '
                             f'rows, sample 0 has {len(ids_rows[0])}')
        ids_rows.append(ids)
        mask_rows.append(mask)
    if not ids_rows:
        raise ValueError('no data samples')
    length = max(r.shape[1] for r in ids_rows)
    ids = torch.cat([F.pad(r, (0, length - r.shape[1])) for r in ids_rows])
    mask = torch.cat([F.pad(r, (0, length - r.shape[1])) for r in mask_rows])
    return ids.to(device), mask.to(device)


def sample_ints(samples: Sequence[BaseDataElement], key: str,
                device: torch.device) -> torch.Tensor:
    """``[B]`` long of the int field ``key`` of every sample."""
    values = []
    for i, sample in enumerate(samples):
        if key not in sample:
            raise ValueError(f'data sample {i} has no {key!r}')
        values.append(int(sample.get(key)))
    return torch.tensor(values, device=device)


def cpu_float(x: torch.Tensor) -> torch.Tensor:
    """``x`` detached on the CPU, half precision widened to float32."""
    return x.detach().to(torch.promote_types(x.dtype, torch.float32)).cpu()


def pretrained_entries(init_cfg) -> List[dict]:
    """``init_cfg`` (None, one ``Pretrained`` dict or a list of them) as a
    list of ``Pretrained`` dicts; anything else is a ValueError."""
    if init_cfg is None:
        return []
    entries = list(init_cfg) if isinstance(init_cfg,
                                           (list, tuple)) else [init_cfg]
    if not entries or not all(
            isinstance(c, dict) and c.get('type') == 'Pretrained'
            and c.get('checkpoint') for c in entries):
        raise ValueError("init_cfg must be None, dict(type='Pretrained', "
                         f'checkpoint=...) or a list of them, got {init_cfg}')
    return entries


class HDVILAVideoTextModel(BaseModel):
    """Video encoder + BERT config; subclasses add ``transformer`` (the
    official ``HDVILA.transformer``, so official ``transformer.*`` weights
    keep their names) and the ``loss`` / ``predict`` / ``tensor_outputs``
    of their task.

    Args:
        video_encoder (dict): config of the video encoder (``type=
            'HDVILAVideoEncoder'``): ``(keyframes [N, 3, Hk, Wk] | None,
            frames [N, T - 1, 3, Hl, Wl] | None) -> [N, C, h, w]`` with
            ``N = B * clips`` (sample-major) and ``C`` the BERT hidden size.
        bert_config (dict): see :func:`build_bert_config` (BERT-large by
            default; tests pass tiny configs).
        data_preprocessor (dict): default ``HDVILADataPreprocessor``.
        init_cfg (dict | list, optional): ``dict(type='Pretrained',
            checkpoint=...)``, a checkpoint converted by
            ``tools/convert_official.py`` (or saved by a run), loaded
            strictly by :meth:`init_weights` (an unconverted official file
            is refused: its ``transformer.*`` names alone would load and
            leave the video encoder at its init); or a list of them, the
            first loaded so, each later one over it, overwriting the keys it
            holds (unknown keys and other shapes are still refused): the
            official stage-2 start, a stage-1 run over the converted
            ResNet + BERT.
    """

    def __init__(self,
                 video_encoder: dict,
                 bert_config: dict,
                 data_preprocessor: Optional[dict] = dict(
                     type='HDVILADataPreprocessor'),
                 init_cfg: Optional[dict] = None) -> None:
        pretrained_entries(init_cfg)  # raises on another kind
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.bert_config = build_bert_config(bert_config)
        self.video_encoder = MODELS.build(video_encoder)

    def init_weights(self) -> None:
        """The children's own initialisation (the video encoder's
        ``cnn_checkpoint``), then the converted ``init_cfg`` checkpoint over
        the whole model, strictly (heads it lacks keep their init)."""
        init_cfg, self.init_cfg = self.init_cfg, None
        super().init_weights()
        self.init_cfg = init_cfg
        # lazy: the converters module builds models itself
        from ..converters import load_converted_checkpoint
        for i, entry in enumerate(pretrained_entries(init_cfg)):
            load_converted_checkpoint(
                self, entry['checkpoint'], partial=i > 0)

    @property
    def text_device(self) -> torch.device:
        """Device of the transformer (where the token rows go)."""
        return next(self.transformer.parameters()).device

    def clip_grids(self, inputs: Dict[str,
                                      Optional[torch.Tensor]]) -> torch.Tensor:
        """The encoder's grid of every clip, ``[clips, B, h, w, C]`` (the
        official ``visual_inputs`` layout, its single frame axis
        dropped)."""
        keyframes, frames = inputs.get('keyframes'), inputs.get('frames')
        first = keyframes if keyframes is not None else frames
        if first is None:
            raise ValueError('inputs hold neither keyframes nor frames')
        videos, clips = first.shape[:2]

        def flat(x: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
            if x is None:
                return None
            if x.shape[:2] != (videos, clips):
                raise ValueError('keyframes and frames disagree on [B, clips]'
                                 f': {list(x.shape[:2])} vs {[videos, clips]}')
            return x.flatten(0, 1)

        grid = self.video_encoder(
            keyframes=flat(keyframes), frames=flat(frames))
        hidden = self.bert_config.hidden_size
        if grid.dim() != 4 or grid.shape[:2] != (videos * clips, hidden):
            raise ValueError(f'the video encoder must return [B * clips = '
                             f'{videos * clips}, {hidden}, h, w], got '
                             f'{list(grid.shape)}')
        grid = grid.view(videos, clips, *grid.shape[1:])
        return grid.permute(1, 0, 3, 4, 2)

    def forward(self,
                inputs: Dict[str, Optional[torch.Tensor]],
                data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.tensor_outputs(inputs, data_samples)
        raise ValueError(f'{type(self).__name__}: unknown mode {mode!r}')
