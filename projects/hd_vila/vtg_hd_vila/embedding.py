"""Zero-shot embeddings of HD-VILA (``vtg_plugins.apis.encode_video`` /
``encode_text``): raw videos and captions in, the stage-1 dual encoder's
L2-normalised ``[N, H]`` retrieval features out, compared by cosine
similarity (official ``cal_cossim``).

A video goes through the config's test pipeline (e.g.
:func:`~vtg_hd_vila.datasets.hd_vila_pipeline`: decord / PyAV decoding,
clip sampling, low-resolution frames and keyframes) as a video file, or as
a data info dict for pipelines that read frame folders (``clip_id``,
``frame_dir``, ``lr_frame_dir``, ``total_frames``, as the retrieval dataset
makes them). A text is encoded as the datasets encode captions (the test
dataset's vocabulary and ``max_txt_len``).
"""
import os
from typing import Any, Sequence

import torch
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.dataset import Compose
from torch import Tensor

from vtg_plugins.apis.dual_encoder import build_zero_shot_embedder
from vtg_plugins.apis.recipes import evaluation_dataset_cfg
from .datasets.collate import hd_vila_collate, trim_text
from .datasets.text import check_text, encode_texts, load_bert_tokenizer
from .models.pretrain import HDVILADualEncoderBase
from .models.video_text_base import stack_text

#: the transform that opens ``filename``: a pipeline without it reads
#: frame folders
VIDEO_OPENER = 'HDVILAVideoInit'


class HDVILAZeroShotEmbedder:
    """The :class:`~vtg_plugins.apis.dual_encoder.ZeroShotEmbedder` of the
    HD-VILA dual encoders (``HDVILARetrieval``, both pre-training stages).

    Args:
        model (HDVILADualEncoderBase): the model.
        cfg (Config): its config; the test (else val, else train) dataset
            gives ``pipeline``, ``vocab_file`` and ``max_txt_len``.

    Raises:
        ValueError: the dataset config lacks one of them.
    """
    score = 'cosine'

    def __init__(self, model: HDVILADualEncoderBase, cfg: Config) -> None:
        ds = evaluation_dataset_cfg(cfg)
        missing = [
            k for k in ('pipeline', 'vocab_file', 'max_txt_len')
            if not ds.get(k)
        ]
        if missing:
            raise ValueError(
                f'HD-VILA zero-shot embeddings read the test pipeline and the '
                f"text encoding of the config's test (or val / train) "
                f'dataset, which has no {missing}')
        self.model = model
        self.pipeline = Compose(ds['pipeline'])
        self.reads_videos = any(
            isinstance(t, dict) and t.get('type') == VIDEO_OPENER
            for t in ds['pipeline'])
        self.tokenizer = load_bert_tokenizer(ds['vocab_file'])
        self.max_txt_len = int(ds['max_txt_len'])

    def video_info(self, video: Any, index: int) -> dict:
        """The data info of one video input for the pipeline."""
        if isinstance(video, dict):
            return dict(video, sample_idx=index)
        if not isinstance(video, (str, os.PathLike)):
            raise ValueError(f'video {index}: expected a video file or a '
                             f'data info dict, got {type(video).__name__}')
        if not self.reads_videos:
            raise ValueError(
                f'video {index} ({os.fspath(video)}): the config\'s test '
                f'pipeline reads frame folders, not video files (it has no '
                f'{VIDEO_OPENER}); give data infos dict(clip_id=..., '
                'frame_dir=..., lr_frame_dir=..., total_frames=...) or use '
                'a config whose pipeline decodes videos')
        return dict(filename=os.fspath(video), sample_idx=index)

    def video_batch(self, videos: Sequence[Any]) -> dict:
        """The test pipeline's item of each video, collated
        (``hd_vila_collate``)."""
        return hd_vila_collate([
            self.pipeline(self.video_info(video, i))
            for i, video in enumerate(videos)
        ])

    def text_batch(self, texts: Sequence[str]) -> dict:
        """Data samples with each text's ``text_ids`` / ``text_mask`` (the
        datasets' encoding), cut to the longest as the collate does; no
        images."""
        for i, text in enumerate(texts):
            check_text(text, f'text {i}')
        ids, mask = encode_texts(self.tokenizer, texts, self.max_txt_len)
        samples = [
            ActionDataSample(
                text_ids=torch.as_tensor(row_ids, dtype=torch.long),
                text_mask=torch.as_tensor(row_mask, dtype=torch.long))
            for row_ids, row_mask in zip(ids, mask)
        ]
        trim_text(samples, 'text_ids', 'text_mask')
        return dict(inputs=dict(), data_samples=samples)

    def embed_videos(self, batch: dict) -> Tensor:
        """The video features ``[B, H]`` (L2-normalised) of the batch."""
        inputs = self.model.data_preprocessor(batch, False)['inputs']
        grids = self.model.clip_grids(inputs)
        return self.model.transformer.video_features(grids)

    def embed_texts(self, batch: dict) -> Tensor:
        """The text features ``[B, H]`` (L2-normalised) of the batch's
        ``text_ids`` / ``text_mask``."""
        ids, mask = stack_text(batch['data_samples'], 'text_ids', 'text_mask',
                               self.model.text_device)
        return self.model.transformer.text_features(ids, mask)


build_zero_shot_embedder.register(HDVILADualEncoderBase,
                                  HDVILAZeroShotEmbedder)
