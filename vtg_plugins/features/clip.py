"""Frozen CLIP (open_clip) returning the tokens of its last k blocks.

R²-Tuning (Liu et al., arXiv 2404.00801; yeliudev/R2-Tuning
``tools/extract_feat.py`` and ``R2Tuning.clip_{video,query}_tower`` in
``models/model.py``) caches, with OpenAI's ``clip`` package:

* video: for every frame, the outputs of the last k residual blocks of the
  visual transformer, **all** tokens (CLS first, then the patches in raster
  order), *before* ``ln_post`` and the projection → ``[T, k, P, Cv]``;
* query: the outputs of the last k blocks of the text transformer (causal
  mask), tokens SOT…EOT, *before* ``ln_final`` and the projection →
  ``[L, k, Cq]``.

The k layers are in network order (index 0 = block ``n - k + 1``, index
k-1 = the last block). This module computes the same tensors with open_clip,
whose ``CLIP`` keeps OpenAI's module names, so OpenAI weights load as they
are. Mapping (OpenAI ``clip`` → open_clip 3.3 ``open_clip.CLIP``):

* ``visual.conv1`` / ``class_embedding`` / ``positional_embedding`` /
  ``ln_pre`` → same names, run by ``visual._embeds`` (conv1 → CLS → +pos →
  ``patch_dropout``, the identity at eval → ``ln_pre``);
* ``visual.transformer.resblocks`` → same; ``visual.forward_intermediates``
  returns the block outputs with the CLS token split off into
  ``image_intermediates_prefix`` (we concatenate it back in front);
* ``token_embedding`` / ``positional_embedding`` / ``transformer.resblocks``
  / causal ``attn_mask`` → same; ``CLIP.forward_intermediates(text=...)``
  returns ``text_intermediates`` ``[N, 77, Cq]``;
* OpenAI's LND (sequence-first) layout → NLD (``batch_first=True``);
* OpenAI's ``QuickGELU`` → the ``*-quickgelu`` model configs;
* OpenAI's fp16 ``LayerNorm`` (computed in fp32) → ``LayerNormFp32``
  (``cast_dtype=float16``).

Other query features are other query-token recipes
(:mod:`vtg_plugins.features.query_tokens`, ``text_tokens``): the encoder
runs the text transformer and hands the block outputs to the recipe (and
multiplies what it selects by ``text_projection`` for a ``projected``
recipe). :meth:`CLIPEncoder.encode_image_embeddings` gives CLIP's image
embeddings instead of block tokens (``frame_features='image_embedding'``).

Architectures are named as in OpenAI ``clip`` / the official configs.
"""
import copy
import hashlib
import os
import warnings
import zipfile
from typing import List, Optional, Sequence, Union

import open_clip
import torch
import torch.nn as nn
from open_clip.tokenizer import SimpleTokenizer

from vtg_plugins.registry import MODELS
from .archs import CLIP_ARCHS, CLIP_MEAN, CLIP_STD, canonical_arch
from .query_tokens import build_query_token_recipe

# non-weight entries of TorchScript archives (OpenAI's, or a scripted CLIP)
_JIT_EXTRA_KEYS = ('input_resolution', 'context_length', 'vocab_size',
                   'attn_mask')


def file_sha256(path: Union[str, os.PathLike]) -> str:
    """Hex SHA-256 of a file (the recipe's ``weights_hash``)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 22), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _is_torchscript(path: str) -> bool:
    """OpenAI's released ``.pt`` files are TorchScript archives."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(
            n.endswith('constants.pkl') or '/code/' in n
            for n in zf.namelist())


def load_clip_weights(model: nn.Module, path: Union[str, os.PathLike]) -> None:
    """Load local CLIP weights into an open_clip ``CLIP`` (strict).

    Accepts OpenAI's TorchScript ``.pt`` archives, open_clip checkpoints and
    plain state dicts (``.pt``/``.pth``/``.bin``/``.safetensors``).
    Nothing is downloaded.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'CLIP checkpoint {path} does not exist')
    try:
        if _is_torchscript(path):
            with warnings.catch_warnings():  # jit.load is deprecated
                warnings.simplefilter('ignore', FutureWarning)
                archive = torch.jit.load(path, map_location='cpu')
            state = archive.state_dict()
            state = {
                k: v
                for k, v in state.items() if k not in _JIT_EXTRA_KEYS
            }
            model.load_state_dict(state, strict=True)
        else:
            open_clip.load_checkpoint(model, path, strict=True)
    except (RuntimeError, KeyError, ValueError) as e:
        raise ValueError(f'cannot load CLIP checkpoint {path} into '
                         f'{type(model).__name__}: {e}') from None


@MODELS.register_module()
class CLIPEncoder(nn.Module):
    """Frozen CLIP giving the last-k-block tokens of frames and the query
    tokens of a query-token recipe.

    Args:
        arch (str): ``'ViT-B/32'``, ``'ViT-B/16'``, ``'ViT-L/14'`` or
            ``'ViT-L/14-336px'`` (alias ``'ViT-L/14-336'``).
        k (int): number of last blocks kept. Default 4.
        checkpoint (str, optional): local CLIP weights; None keeps the random
            initialisation (tests). Nothing is downloaded.
        model_cfg (dict, optional): an open_clip model config (``embed_dim``,
            ``vision_cfg``, ``text_cfg``, ``quick_gelu``) replacing the
            built-in one of ``arch``, e.g. a reduced width for tests.
        precision (str): ``'fp32'`` or ``'fp16'`` (weights and activations in
            half precision except LayerNorm, as OpenAI ``clip`` runs on GPU
            and as the official cache was computed).
        text_tokens (str): query-token recipe, a name in
            :data:`~vtg_plugins.registry.QUERY_TOKEN_RECIPES` (it may limit
            ``k``). Default ``'sot_eot_last_k'``.
    """

    def __init__(self,
                 arch: str = 'ViT-B/32',
                 k: int = 4,
                 checkpoint: Optional[str] = None,
                 model_cfg: Optional[dict] = None,
                 precision: str = 'fp32',
                 text_tokens: str = 'sot_eot_last_k'):
        super().__init__()
        self.arch = canonical_arch(arch)
        self.query_tokens = build_query_token_recipe(text_tokens)
        self.query_tokens.check_k(k)
        self.text_tokens = text_tokens
        cfg = copy.deepcopy(model_cfg) if model_cfg is not None else \
            open_clip.get_model_config(CLIP_ARCHS[self.arch].open_clip_name)
        if precision not in ('fp32', 'fp16'):
            raise ValueError(f"precision must be 'fp32' or 'fp16', got "
                             f'{precision!r}')
        self.model_cfg = copy.deepcopy(cfg)
        self.dtype = torch.float16 if precision == 'fp16' else torch.float32
        # cast_dtype=fp16 selects LayerNormFp32, like OpenAI's LayerNorm
        self.clip = open_clip.CLIP(
            **cfg, cast_dtype=torch.float16 if precision == 'fp16' else None)
        if checkpoint is not None:
            load_clip_weights(self.clip, checkpoint)
        if precision == 'fp16':
            open_clip.model.convert_weights_to_lp(self.clip, torch.float16)
        self.clip.requires_grad_(False)

        visual, text = self.clip.visual, self.clip.transformer
        self.image_size = visual.image_size[0]
        grid = self.image_size // visual.patch_size[0]
        self.num_tokens = grid * grid + 1  # P: CLS + patches
        self.visual_width = visual.transformer.width
        self.text_width = text.width
        self.context_length = self.clip.context_length
        self.visual_layers = len(visual.transformer.resblocks)
        self.text_layers = len(text.resblocks)
        if not 1 <= k <= min(self.visual_layers, self.text_layers):
            raise ValueError(f'k={k} must lie in [1, '
                             f'{min(self.visual_layers, self.text_layers)}] '
                             f'for {self.arch}')
        self.k = k
        self.tokenizer = SimpleTokenizer(context_length=self.context_length)
        self.register_buffer(
            'mean', torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer(
            'std', torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)
        self.eval()

    def train(self, mode: bool = True) -> 'CLIPEncoder':
        """The encoder stays in eval mode (frozen)."""
        return super().train(False)

    @property
    def visual_block_ids(self) -> List[int]:
        """1-based numbers of the visual blocks kept, network order."""
        return list(
            range(self.visual_layers - self.k + 1, self.visual_layers + 1))

    @property
    def text_block_ids(self) -> List[int]:
        """1-based numbers of the text blocks kept, network order."""
        return list(range(self.text_layers - self.k + 1, self.text_layers + 1))

    def normalize(self, frames: torch.Tensor) -> torch.Tensor:
        """``uint8 [N, 3, S, S]`` → float ``[N, 3, S, S]`` (/255, CLIP
        mean/std), as the official ``VideoDataset`` does."""
        x = frames.to(self.mean.device, torch.float32) / 255
        return (x - self.mean) / self.std

    @property
    def embed_dim(self) -> int:
        """``E``: the width of CLIP's joint image-text embedding space."""
        return int(self.model_cfg['embed_dim'])

    def _check_frames(self, frames: torch.Tensor) -> None:
        if frames.ndim != 4 or tuple(
                frames.shape[1:]) != (3, self.image_size, self.image_size):
            raise ValueError(
                f'{self.arch} expects frames [N, 3, {self.image_size}, '
                f'{self.image_size}], got {tuple(frames.shape)}')

    @torch.no_grad()
    def encode_image_embeddings(self, frames: torch.Tensor) -> torch.Tensor:
        """CLIP's image embeddings of normalised frames: the CLS token of
        the last visual block after ``ln_post``, times the visual
        projection (open_clip ``encode_image``, not L2-normalised).

        Args:
            frames (torch.Tensor): ``[N, 3, S, S]`` normalised images.

        Returns:
            torch.Tensor: ``[N, E]``, float32.
        """
        self._check_frames(frames)
        return self.clip.encode_image(frames.to(self.mean.device,
                                                self.dtype)).float()

    @torch.no_grad()
    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Last-k visual tokens of normalised frames.

        Args:
            frames (torch.Tensor): ``[N, 3, S, S]`` normalised images,
                ``S = image_size``.

        Returns:
            torch.Tensor: ``[N, k, P, Cv]``, float32.
        """
        self._check_frames(frames)
        out = self.clip.visual.forward_intermediates(
            frames.to(self.mean.device, self.dtype),
            indices=self.k,
            stop_early=True,
            intermediates_only=True,
            output_fmt='NLC',
            output_extra_tokens=True)
        tokens = [
            torch.cat((cls, patches), dim=1) for cls, patches in zip(
                out['image_intermediates_prefix'], out['image_intermediates'])
        ]
        return torch.stack(tokens, dim=1).float()

    def tokenize(self,
                 texts: Sequence[str],
                 ids: Optional[Sequence[str]] = None,
                 truncate: bool = False) -> torch.Tensor:
        """CLIP tokens ``[N, context_length]`` (SOT … EOT, 0-padded) by the
        query-token recipe (which may cut long queries silently, see
        :meth:`num_cut`).

        Args:
            texts (Sequence[str]): the queries.
            ids (Sequence[str], optional): their ids, named in errors.
            truncate (bool): cut queries longer than the context instead of
                refusing them (``'sot_eot_last_k'``, as the official
                ``clip.tokenize(..., truncate=True)``).

        Raises:
            ValueError: naming each query id the recipe cannot encode.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        ids = list(ids) if ids is not None else [
            str(i) for i in range(len(texts))
        ]
        return self.query_tokens.tokenize(self.tokenizer, texts, ids, truncate)

    def num_cut(self, texts: Sequence[str]) -> int:
        """How many of ``texts`` :meth:`tokenize` shortens silently."""
        return self.query_tokens.num_cut(self.tokenizer, texts)

    @torch.no_grad()
    def encode_tokens(self, tokens: torch.Tensor) -> List[torch.Tensor]:
        """Query token features in the encoder's ``text_tokens`` recipe.

        Args:
            tokens (torch.Tensor): ``[N, context_length]`` from
                :meth:`tokenize`.

        Returns:
            list[torch.Tensor]: N float32 tensors in the recipe's layout,
            e.g. ``[L_i, k, Cq]`` for ``'sot_eot_last_k'``, ``[1, E]`` for
            ``'eot_ln_final_projected'``.
        """
        tokens = tokens.to(self.mean.device)
        out = self.clip.forward_intermediates(
            text=tokens,
            text_indices=self.k,
            normalize_intermediates=self.query_tokens.ln_final,
            intermediates_only=True)
        feats = self.query_tokens.select(out['text_intermediates'], tokens)
        if self.query_tokens.projected:
            feats = [self._project_text(f) for f in feats]
        return feats

    def _project_text(self, feats: torch.Tensor) -> torch.Tensor:
        """``[..., Cq]`` -> ``[..., E]`` by CLIP's text projection (a
        matrix, or a linear layer in some open_clip configs), float32."""
        proj = self.clip.text_projection
        if isinstance(proj, nn.Linear):
            return proj(feats.to(proj.weight.dtype)).float()
        return (feats.to(proj.dtype) @ proj).float()
