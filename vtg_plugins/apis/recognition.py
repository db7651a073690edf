"""Action recognition of video files with any recognizer of the ``MODELS``
registry (MMAction2's ``Recognizer2D`` / ``Recognizer3D``, TSTL's
``TSTLRoutedRecognizer``, ...): a video goes through the test pipeline of
the model's config and the model's ``predict``, as ``tools/test.py`` scores
the videos of the test dataset.

``mmaction.apis.init_recognizer`` / ``inference_recognizer`` run TSTL's
models too (``Config.fromfile`` imports the config's ``custom_imports``, and
the data samples are MMAction2's), but not as our tools do: the checkpoint
loads non-strictly (weights that do not fit are only logged, and the scores
are silently those of a partly random model), the pipeline is the config's
top-level ``test_pipeline`` variable rather than the test dataset's (which
``tools/test.py`` runs), a missing video or a ``pathlib.Path`` gets "The
type of argument `video` is not supported", and a ``.npy`` file is read as
audio. Here the loading is strict and errors name the video.
"""
import os
from typing import Iterator, List, Optional, Union

import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.runner import load_checkpoint
from torch import nn

from vtg_plugins.registry import MODELS
from .inferencer import _load_config

PathLike = Union[str, os.PathLike]
#: the dataloaders whose dataset pipeline tests a recognizer, in order
EVALUATION_LOADERS = ('test_dataloader', 'val_dataloader')


def init_recognizer(config: Union[PathLike, Config, dict],
                    checkpoint: Optional[PathLike] = None,
                    device: str = 'cpu') -> nn.Module:
    """A recognizer ready for :func:`recognize_video`.

    Args:
        config (str | Config | dict): the model's config (file path or
            object); its ``custom_imports`` are imported and its
            ``default_scope`` (default ``'vtg_plugins'``) is set.
        checkpoint (str, optional): weights, a local path or a URL, loaded
            with :func:`mmengine.runner.load_checkpoint` (strict). None
            keeps the weights the model is built with: those a model that
            loads its own checkpoints holds (``TSTLRoutedRecognizer``),
            random ones otherwise (``init_weights`` is not called).
        device (str): torch device. Default ``'cpu'``.

    Returns:
        nn.Module: the model in eval mode, with a ``cfg`` attribute.
    """
    cfg = _load_config(config)
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        load_checkpoint(
            model, os.fspath(checkpoint), map_location='cpu', strict=True)
    model.cfg = cfg
    return model.to(device).eval()


def evaluation_dataset_chain(cfg: Config) -> Iterator[dict]:
    """The test dataset config and those it wraps (e.g. the one inside a
    ``GroupLabelDataset``), outermost first, then the same for the val
    dataset."""
    for key in EVALUATION_LOADERS:
        ds = (cfg.get(key) or {}).get('dataset')
        while isinstance(ds, dict):
            yield ds
            ds = ds.get('dataset')


def dataset_classes(cfg: Config) -> Optional[List[str]]:
    """The class names of the first dataset config of
    :func:`evaluation_dataset_chain` that states ``metainfo['classes']``;
    None when none does."""
    for ds in evaluation_dataset_chain(cfg):
        classes = (ds.get('metainfo') or {}).get('classes')
        if classes:
            return [str(c) for c in classes]
    return None


def build_test_pipeline(cfg: Config) -> Compose:
    """The pipeline of the first dataset config of
    :func:`evaluation_dataset_chain` that has one, else the config's
    top-level ``test_pipeline``.

    Raises:
        ValueError: the config has neither.
    """
    pipeline = next(
        (ds['pipeline']
         for ds in evaluation_dataset_chain(cfg) if ds.get('pipeline')),
        cfg.get('test_pipeline'))
    if not pipeline:
        raise ValueError(
            'the config has no test pipeline: its test_dataloader and '
            'val_dataloader datasets state no pipeline, and there is no '
            'top-level test_pipeline')
    return Compose(pipeline)


def _video_info(video: Union[PathLike, dict]) -> dict:
    """The data info a test dataset makes of a video file (no label), or a
    copy of a given data info."""
    if isinstance(video, dict):
        return dict(video)
    if not isinstance(video, (str, os.PathLike)):
        raise TypeError(f'expected a video file or a data info dict, got '
                        f'{type(video).__name__}')
    path = os.fspath(video)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'video {path} does not exist')
    return dict(filename=path, label=-1, start_index=0, modality='RGB')


def _pipeline_item(pipeline: Compose, info: dict) -> dict:
    """``pipeline(info)``; an error that does not name the video is raised
    again as a ``ValueError`` that does."""
    try:
        return pipeline(info)
    except Exception as e:  # decoders and transforms raise many types
        name = info.get('filename') or info.get('frame_dir')
        if name is None or str(name) in str(e):
            raise
        raise ValueError(f'video {name}: the test pipeline failed on it: '
                         f'{type(e).__name__}: {e}') from e


def recognize_video(model: nn.Module,
                    video: Union[PathLike, dict],
                    pipeline: Optional[Compose] = None):
    """The prediction of ``model`` for one video.

    Args:
        model (nn.Module): from :func:`init_recognizer` (or any recognizer
            with a ``cfg`` attribute).
        video (str | dict): a video file, or the data info the pipeline
            starts from (e.g. ``frame_dir`` / ``total_frames`` for frame
            folders).
        pipeline (Compose, optional): the test pipeline; built from
            ``model.cfg`` (:func:`build_test_pipeline`) when not given.

    Returns:
        ActionDataSample: the data sample ``predict`` fills; its
        ``pred_score`` is ``[num_classes]`` for a head that averages its
        views (``average_clips='prob'`` or ``'score'``).

    Raises:
        FileNotFoundError: no such video; ValueError (or the pipeline's
            error): a file the pipeline cannot read; both name the video.
    """
    if pipeline is None:
        cfg = getattr(model, 'cfg', None)
        if cfg is None:
            raise ValueError(f'{type(model).__name__} has no config to '
                             'take the test pipeline from: build it with '
                             'init_recognizer(config, checkpoint) or pass '
                             'pipeline=')
        pipeline = build_test_pipeline(cfg)
    item = _pipeline_item(pipeline, _video_info(video))
    with torch.no_grad():
        sample = model.test_step(pseudo_collate([item]))[0]
    if 'pred_score' not in sample:
        raise ValueError(f'{type(model).__name__}.predict set no pred_score '
                         'on the data sample: not a recognizer')
    return sample
