"""Tiny, random-init set-ups of the two grounding methods for inference
tests (``tests/apis``, ``tests/tools/test_demo_moment_retrieval.py``).

Each writes, under a root directory, what a user would have: a config
inheriting the method's tiny config, a checkpoint (random weights, the
feature recipe in its meta as training writes it), the tiny CLIP's weights
and the video input (a video file for R²-Tuning, a feature store of
``[T, D]`` files for GroundNLQ, whose video backbones are not shipped).
"""
import json
from pathlib import Path
from types import SimpleNamespace

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils import import_modules_from_strings

from vtg_plugins.datasets.feature_stores import DirectoryWriter, LMDBStore
from vtg_plugins.registry import MODELS
from vtg_plugins.testing import make_ego4d_nlq, write_config
from vtg_plugins.testing.feature_pipeline import (TINY_CLIP,
                                                  save_tiny_checkpoint,
                                                  write_video)

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
R2_TINY = CONFIGS / 'r2_tuning' / \
    'r2_tuning_tiny_1xb32-12e_synthetic-qvhighlights.py'
GNLQ_TINY = CONFIGS / 'groundnlq' / \
    'groundnlq_tiny_1xb2-3e_synthetic-ego4d-nlq.py'
#: R²-Tuning widths of TINY_CLIP's features (visual 64, text 32, 50 tokens)
R2_ARCH = dict(video_dims=64, query_dims=32, num_tokens=50)


def _random_checkpoint(cfg_path: Path,
                       out: Path,
                       meta: dict,
                       seed: int,
                       init=None) -> dict:
    """Build the model of a config with ``torch.manual_seed(seed)`` (then
    ``init(model)``), save ``{'state_dict', 'meta'}`` to ``out`` and return
    the state dict."""
    cfg = Config.fromfile(cfg_path)
    import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.default_scope)
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    if init is not None:
        with torch.no_grad():
            init(model)
    torch.save(dict(state_dict=model.state_dict(), meta=meta), out)
    return model.state_dict()


def _random_gates(model) -> None:
    # the gates start at 0, which makes the deeper layer matter less
    model.adapter.gate.uniform_(-1, 1)


def write_r2_setup(root, video_seconds: float, ckpt_meta=None):
    """R²-Tuning: a tiny video (10 fps), the tiny CLIP, the tiny R²-Tuning
    config at TINY_CLIP's widths (k=2 of its 3 blocks; the QVHighlights
    post-processing: 2-s units, NMS 0.7) and its checkpoint.

    Returns:
        SimpleNamespace: ``video``, ``clip``, ``cfg``, ``ckpt`` paths and
        the model's ``state``.
    """
    root = Path(root)
    write_video(root / 'v.mp4', video_seconds, 10)
    save_tiny_checkpoint(root / 'clip.pt')
    cfg = write_config(
        root / 'tiny_r2.py', R2_TINY, f'model = dict(arch={R2_ARCH!r}, k=2)\n'
        "recipe = dict(backbone='ViT-B/32', k=2, layers=[2, 3], "
        f"dtype='float16', model_cfg={TINY_CLIP!r})")
    state = _random_checkpoint(cfg, root / 'r2.pth', ckpt_meta or {}, 0,
                               _random_gates)
    return SimpleNamespace(
        video=root / 'v.mp4',
        clip=root / 'clip.pt',
        cfg=cfg,
        ckpt=root / 'r2.pth',
        state=state)


def write_groundnlq_setup(root, num_feats=(20, 30), seed=0):
    """GroundNLQ: synthetic Ego4D NLQ data (``val`` split: 2 clips, 2
    queries each, ``[T, 64]`` video features in LMDB), the tiny CLIP, the
    tiny GroundNLQ config on that data with the CLIP token recipe of its
    ``query_recipe`` at TINY_CLIP's widths, a checkpoint whose meta holds
    the video store's recipe, and the video features as a directory
    feature store ``feats/{clip_uid}.npy`` with the same ``meta.json``.

    Returns:
        SimpleNamespace: ``data`` (:class:`SyntheticData`), ``clip``,
        ``cfg``, ``ckpt``, ``feats`` (the feature store directory), the
        clip ids ``vids`` and the video ``recipe``.
    """
    root = Path(root)
    data = make_ego4d_nlq(
        root / 'data',
        splits=dict(val=2),
        vid_dim=64,
        txt_dim=32,
        num_feats=num_feats,
        seed=seed)
    save_tiny_checkpoint(root / 'clip.pt')
    cfg = write_config(
        root / 'tiny_gnlq.py', GNLQ_TINY,
        f'query_recipe = dict(model_cfg={TINY_CLIP!r})\n'
        f'test_dataloader = dict(dataset=dict(data_root={str(data.root)!r}))')
    _random_checkpoint(cfg, root / 'gnlq.pth',
                       dict(feature_recipe=data.recipe), seed)
    store = LMDBStore(data.video_root)
    writer = DirectoryWriter(root / 'feats', meta=store.meta)
    vids = store.keys()
    for vid in vids:
        writer.add(vid, store[vid])
    writer.commit()
    return SimpleNamespace(
        data=data,
        clip=root / 'clip.pt',
        cfg=cfg,
        ckpt=root / 'gnlq.pth',
        feats=root / 'feats',
        vids=vids,
        recipe=json.loads((root / 'feats' / 'meta.json').read_text()))
