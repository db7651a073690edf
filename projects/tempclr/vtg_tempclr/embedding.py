"""Zero-shot embeddings of TempCLR (``vtg_plugins.apis.encode_video`` /
``encode_text``): S3D features and captions in, the dual encoder's pooled
``[N, H]`` embeddings out, compared by raw dot products.

A video is its ``[T, 512]`` S3D features (one row per second; an array, a
tensor or a ``.npy`` / ``.npz`` / ``.pt`` file); its row is that of a
retrieval dataset for a whole video: the first ``max_video_len`` seconds.
A text is encoded as the datasets encode captions (its BERT vocabulary,
MMPT's ``[CLS] [SEP] tokens [SEP]`` row). Vocabulary and lengths are those
of the config's test dataset.
"""
import os
import warnings
from typing import Any, Sequence

import numpy as np
import torch
from mmengine.config import Config
from torch import Tensor

from vtg_plugins.apis.dual_encoder import build_zero_shot_embedder
from vtg_plugins.apis.recipes import evaluation_dataset_cfg
from vtg_plugins.apis.video_inputs import is_feature_file, load_feature_file
from vtg_plugins.datasets.grounding import check_finite
from .datasets.collate import tempclr_collate
from .datasets.downstream import CaptionEncoder
from .datasets.packing import PackTempCLRInputs, build_video_rows
from .models import TempCLRDualEncoder

#: the caption-encoder settings a dataset config may state
CAPTION_KEYS = ('max_len', 'max_video_len')


def _no_rows(*shape: int, dtype: torch.dtype) -> Tensor:
    """An empty ``[0, *shape]`` block: an item without rows of a kind."""
    return torch.zeros((0, ) + shape, dtype=dtype)


class TempCLRZeroShotEmbedder:
    """The :class:`~vtg_plugins.apis.dual_encoder.ZeroShotEmbedder` of
    :class:`~vtg_tempclr.models.TempCLRDualEncoder` (and its subclasses).

    Args:
        model (TempCLRDualEncoder): the model.
        cfg (Config): its config; the test (else val, else train) dataset
            gives ``vocab_file``, ``max_len`` and ``max_video_len`` (the
            datasets' defaults 96 and 32 where it states none).

    Raises:
        ValueError: the dataset config names no ``vocab_file``.
    """
    score = 'dot'

    def __init__(self, model: TempCLRDualEncoder, cfg: Config) -> None:
        ds = evaluation_dataset_cfg(cfg)
        if not ds.get('vocab_file'):
            raise ValueError(
                'TempCLR zero-shot embeddings need the BERT vocabulary: the '
                "config's test (or val / train) dataset names no vocab_file")
        self.model = model
        self.captions = CaptionEncoder(
            ds['vocab_file'], **{k: ds[k]
                                 for k in CAPTION_KEYS if k in ds})
        self.pack = PackTempCLRInputs()
        self.input_dim = model.video_encoder.videomlp.input_dim

    @property
    def max_video_len(self) -> int:
        return self.captions.max_video_len

    def video_features(self, video: Any, index: int) -> np.ndarray:
        """The ``[T, D]`` features of one video input.

        Raises:
            FileNotFoundError / ValueError: naming the input.
        """
        where = f'video {index}'
        if isinstance(video, (str, os.PathLike)):
            where = f'video {index} ({os.fspath(video)})'
            if not is_feature_file(video):
                raise ValueError(
                    f'{where}: TempCLR reads pre-extracted S3D features, '
                    'give them as a [T, 512] .npy / .npz / .pt file or array')
            feats = load_feature_file(video)
        else:
            feats = torch.as_tensor(video).float().cpu().numpy()
        if feats.ndim != 2 or len(feats) == 0 or \
                feats.shape[1] != self.input_dim:
            raise ValueError(
                f'{where}: features must be [T, {self.input_dim}] with T >= '
                f'1, got shape {list(feats.shape)}')
        check_finite(feats, f'{where}: features')
        if len(feats) > self.max_video_len:
            warnings.warn(
                f'{where}: {len(feats)} feature steps, the model reads the '
                f'first max_video_len={self.max_video_len} (as the retrieval '
                'datasets do)')
        return feats

    def video_batch(self, videos: Sequence[Any]) -> dict:
        """One packed item per video (its video row, no caption row),
        collated as the test dataloader does."""
        text_len = self.captions.max_len - self.max_video_len
        items = []
        for i, video in enumerate(videos):
            feats = self.video_features(video, i)
            vfeats, vmasks = build_video_rows(feats, 0, len(feats),
                                              self.max_video_len)
            items.append(
                self.pack(
                    dict(
                        vfeats=vfeats[None],
                        vmasks=vmasks[None],
                        caps=_no_rows(text_len, dtype=torch.long),
                        cmasks=_no_rows(text_len, dtype=torch.bool))))
        return tempclr_collate(items)

    def text_batch(self, texts: Sequence[str]) -> dict:
        """One packed item per text (its caption row, no video row)."""
        items = []
        for i, text in enumerate(texts):
            caps, cmasks = self.captions.rows(
                [self.captions.token_ids(text, f'text {i}')])
            items.append(
                self.pack(
                    dict(
                        caps=caps,
                        cmasks=cmasks,
                        vfeats=_no_rows(
                            self.max_video_len,
                            self.input_dim,
                            dtype=torch.float32),
                        vmasks=_no_rows(self.max_video_len,
                                        dtype=torch.bool))))
        return tempclr_collate(items)

    def embed_videos(self, batch: dict) -> Tensor:
        """``pooled_video [N, H]`` of the batch's video rows."""
        inputs = self.model.data_preprocessor(batch, False)['inputs']
        return self.model.encode_video(inputs['vfeats'], inputs['vmasks'])

    def embed_texts(self, batch: dict) -> Tensor:
        """``pooled_text [N, H]`` of the batch's caption rows."""
        inputs = self.model.data_preprocessor(batch, False)['inputs']
        return self.model.encode_text(inputs['caps'], inputs['cmasks'])


build_zero_shot_embedder.register(TempCLRDualEncoder, TempCLRZeroShotEmbedder)
