"""Small synthetic grounding datasets in the official on-disk layouts.

Used by tests, the demo and benchmarks. Two layouts:

- :func:`make_qvhighlights`: R²-Tuning's QVHighlights cache (yeliudev/
  R2-Tuning ``configs/_base_/datasets/qvhighlights.py``, features written by
  ``tools/extract_feat.py``): ``qvhighlights_{split}.jsonl`` (QVHighlights
  records), ``clip_b32_vid_k4/{vid}.npy`` fp16 ``[T, k, P, Cv]`` (last k
  CLIP blocks, every token of each 0.5 fps frame) and
  ``clip_b32_txt_k4/{qid}.npy`` fp16 ``[L, k, Cq]``.
- :func:`make_ego4d_nlq`: GroundNLQ's Ego4D NLQ layout (houzhijian/GroundNLQ
  ``configs/ego4d_nlq_v2_*.yaml``): official nested
  ``ego4d_data/ego4d_nlq_v2_ori_data/nlq_{split}.json``, the flattened
  ``ego4d_data/ego4d_nlq_{split}_v2.jsonl``, and two LMDB stores keyed by
  clip uid / query id whose values are npz bytes: ``features`` float32
  ``[T, 2304]`` (1.87 fps) and ``token_features`` float32 ``[L, 512]``.

With ``plant=True`` every query gets a random unit "topic" vector: its query
tokens contain the topic and the video features inside its GT window contain
a fixed random linear map of it (the same map for the whole dataset), so the
moment is learnable from the query. Queries of one video occupy disjoint
segments of it. Every store gets a ``meta.json``: the recipe of the
official features its layout imitates (:func:`clip_cache_recipes`,
:func:`ego4d_nlq_recipes`, the recipes the configs state, so their datasets
accept the stores), with ``weights_hash='synthetic-seed{seed}'`` marking
the features as generated.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import numpy as np

from vtg_plugins.datasets.ann_formats import EGO4D_CLIP_LEN
from vtg_plugins.datasets.feature_stores import DirectoryWriter, LMDBWriter
from vtg_plugins.utils.io import atomic_write_bytes

PathLike = Union[str, Path]
_OBJECTS = ('cup', 'knife', 'phone', 'keys', 'bottle', 'bag', 'book', 'plate',
            'hammer', 'towel', 'remote', 'wallet')


def clip_cache_recipes(k: int = 4, clip_len: float = 2.0,
                       seed: int = 0) -> Tuple[dict, dict]:
    """``meta.json`` of the video and query stores of the official CLIP
    feature cache (R²-Tuning's layout): the recipe of ``configs/r2_tuning/_base_/datasets/qvhighlights.py``
    (OpenAI CLIP ViT-B/32, its last ``k`` blocks, crop 224, fp16) at
    ``1 / clip_len`` fps."""
    clip = dict(backbone='ViT-B/32', weights='openai',
                weights_hash=f'synthetic-seed{seed}',
                layers=list(range(13 - k, 13)), dtype='float16')
    video = dict(clip, fps=1 / clip_len, clip_len=clip_len, crop=224,
                 layout='[T, k, P, C]')
    query = dict(clip, text_tokens='sot_eot_last_k', text_normalizer=None,
                 layout='[L, k, C]')
    return video, query


def ego4d_nlq_recipes(vid_dim: int = 2304,
                      seed: int = 0) -> Tuple[dict, dict]:
    """``meta.json`` of the video and query stores of the official Ego4D NLQ
    features (GroundNLQ's layout): the recipes of ``configs/groundnlq/_base_/datasets/ego4d_nlq.py``
    (InternVideo + EgoVLP features ``[T, vid_dim]``, OpenAI ViT-B/32 CLIP
    token features of the canonical question)."""
    marker = dict(weights_hash=f'synthetic-seed{seed}', dtype='float32')
    video = dict(marker, backbone='internvideo+egovlp', weights='naq',
                 video_fps=30.0, feat_stride=16.043, feat_window=16.043,
                 fps=1 / EGO4D_CLIP_LEN, clip_len=EGO4D_CLIP_LEN,
                 feat_dim=vid_dim, layout='[T, C]')
    query = dict(marker, backbone='ViT-B/32', weights='openai', k=1,
                 text_tokens='between_sot_eot_ln_final_max30',
                 text_normalizer='canonical_question', layout='[L, C]')
    return video, query


@dataclass
class SyntheticData:
    """Paths and facts of a generated dataset.

    Attributes:
        root (Path): dataset root.
        annotations (dict[str, Path]): split -> official annotation file
            (QVHighlights jsonl / GroundNLQ jsonl).
        video_root (Path): video feature store.
        query_root (Path): query feature store.
        recipe (dict): the video store's ``meta.json``.
        extra (dict[str, Path]): other files (e.g. ``'nlq_val'`` -> the
            nested official Ego4D json).
    """
    root: Path
    annotations: Dict[str, Path]
    video_root: Path
    query_root: Path
    recipe: dict
    extra: Dict[str, Path] = field(default_factory=dict)


class _Planter:
    """Topic vectors and the fixed text->video map used to plant moments.

    Args:
        rng: random generator.
        txt_dim (int): Cq. vis_dim (int): Cv.
        signal (float): amplitude of the planted vector (noise std is 1).
        plant (bool): when False, features are pure noise.
    """

    def __init__(self, rng: np.random.Generator, txt_dim: int, vis_dim: int,
                 signal: float, plant: bool):
        self.rng, self.signal, self.plant = rng, signal, plant
        proj = rng.standard_normal((txt_dim, vis_dim))
        self.proj = proj / np.linalg.norm(proj, axis=1, keepdims=True)

    def topic(self) -> Tuple[np.ndarray, np.ndarray]:
        """A unit text topic ``[Cq]`` and its video image ``[Cv]``."""
        t = self.rng.standard_normal(self.proj.shape[0])
        t /= np.linalg.norm(t)
        v = t @ self.proj
        return t, v / np.linalg.norm(v)

    def noise(self, shape: tuple) -> np.ndarray:
        return self.rng.standard_normal(shape).astype(np.float32)

    def add(self, feats: np.ndarray, vec: np.ndarray) -> None:
        """Add the planted vector to every row (last axis = channels)."""
        if self.plant:
            feats += (self.signal * vec).astype(np.float32)


def _vocabulary(planter: _Planter, num_topics: Optional[int]) -> list:
    """``num_topics`` fixed topics (one per object name), or [] for none."""
    if num_topics is not None and not 0 < num_topics <= len(_OBJECTS):
        raise ValueError(f'num_topics must be in 1..{len(_OBJECTS)}, got '
                         f'{num_topics}')
    return [planter.topic() for _ in range(num_topics or 0)]


def _segments(rng: np.random.Generator, num_clips: int,
              num_queries: int) -> list:
    """Disjoint ``[a, b)`` clip ranges, one inside each equal segment."""
    bounds = np.linspace(0, num_clips, num_queries + 1).astype(int)
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        length = int(rng.integers(1, max(2, (hi - lo) // 2 + 1)))
        a = int(rng.integers(lo, hi - length + 1))
        out.append((a, a + length))
    return out


def _write_jsonl(path: Path, rows: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ''.join(json.dumps(r) + '\n' for r in rows)
    atomic_write_bytes(path, text.encode('utf-8'))


def _uid(rng: np.random.Generator) -> str:
    h = ''.join(f'{b:02x}' for b in rng.integers(0, 256, 16))
    return f'{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}'


def make_qvhighlights(root: PathLike,
                      splits: Optional[Dict[str, int]] = None,
                      queries_per_video: int = 2,
                      num_clips: Tuple[int, int] = (10, 16),
                      clip_len: float = 2.0,
                      k: int = 4,
                      num_tokens: int = 50,
                      vis_dim: int = 768,
                      txt_dim: int = 512,
                      query_len: Tuple[int, int] = (4, 8),
                      plant: bool = True,
                      signal: float = 3.0,
                      num_topics: Optional[int] = None,
                      seed: int = 0) -> SyntheticData:
    """Write a QVHighlights-shaped dataset in R²-Tuning's cache layout.

    Args:
        root: output directory (``data/qvhighlights`` in the official repo).
        splits (dict): split -> number of videos. Default
            ``{'train': 4, 'val': 2}``.
        queries_per_video (int): queries per video (disjoint windows).
        num_clips (tuple): inclusive range of T (clips of ``clip_len`` s).
        k (int): CLIP layers kept. num_tokens (int): P tokens per frame
            (50 for ViT-B/32). vis_dim / txt_dim (int): Cv / Cq.
        query_len (tuple): inclusive range of L (query tokens).
        plant (bool): plant a query-dependent moment (see module doc).
        signal (float): its amplitude (noise std 1).
        num_topics (int, optional): draw each query's topic from this many
            fixed topics, one per object the query names (a vocabulary, as
            real queries share concepts; at most 12); None gives every query
            a topic of its own.
        seed (int): random seed; equal seeds give identical files.

    Returns:
        SyntheticData: ``video_root`` = ``clip_b32_vid_k4``, ``query_root``
        = ``clip_b32_txt_k4``, ``annotations[split]`` =
        ``qvhighlights_{split}.jsonl``.
    """
    root, rng = Path(root), np.random.default_rng(seed)
    splits = splits or {'train': 4, 'val': 2}
    planter = _Planter(rng, txt_dim, vis_dim, signal, plant)
    vocabulary = _vocabulary(planter, num_topics)
    recipe, query_recipe = clip_cache_recipes(k, clip_len, seed)
    video_root, query_root = root / 'clip_b32_vid_k4', root / 'clip_b32_txt_k4'
    vid_w = DirectoryWriter(video_root, meta=recipe, overwrite=True,
                            resume=False)
    txt_w = DirectoryWriter(query_root, meta=query_recipe, overwrite=True,
                            resume=False)
    annotations, qid, n_video = {}, 0, 0
    for split, num_videos in splits.items():
        rows = []
        for _ in range(num_videos):
            t = int(rng.integers(num_clips[0], num_clips[1] + 1))
            duration = t * clip_len
            vid = f'syn{n_video:05d}_0.0_{duration:.1f}'
            n_video += 1
            video = planter.noise((t, k, num_tokens, vis_dim))
            for a, b in _segments(rng, t, queries_per_video):
                if vocabulary:
                    obj = int(rng.integers(len(vocabulary)))
                    text_vec, video_vec = vocabulary[obj]
                else:
                    obj = int(rng.integers(len(_OBJECTS)))
                    text_vec, video_vec = planter.topic()
                planter.add(video[a:b], video_vec)
                length = int(rng.integers(query_len[0], query_len[1] + 1))
                query = planter.noise((length, k, txt_dim))
                planter.add(query, text_vec)
                txt_w.add(str(qid), query.astype(np.float16))
                clip_ids = list(range(a, b))
                rows.append(dict(
                    qid=qid,
                    query=f'a person uses the {_OBJECTS[obj]}',
                    duration=duration,
                    vid=vid,
                    relevant_clip_ids=clip_ids,
                    saliency_scores=rng.integers(
                        1, 5, (len(clip_ids), 3)).tolist(),
                    relevant_windows=[[a * clip_len, b * clip_len]]))
                qid += 1
            vid_w.add(vid, video.astype(np.float16))
        annotations[split] = root / f'qvhighlights_{split}.jsonl'
        _write_jsonl(annotations[split], rows)
    vid_w.commit()
    txt_w.commit()
    return SyntheticData(root, annotations, video_root, query_root, recipe)


def _nlq_json(split: str, clips: list) -> dict:
    """Nested official Ego4D NLQ json for the generated clips."""
    videos = []
    for c in clips:
        queries = [
            dict(clip_start_sec=s, clip_end_sec=e, video_start_sec=s,
                 video_end_sec=e, video_start_frame=round(s * 30),
                 video_end_frame=round(e * 30),
                 template='Objects: Where is object X?', query=q,
                 slot_x=q.split()[-1].rstrip('?'),
                 verb_x='[verb_not_applicable]',
                 raw_tags=['Objects: Where is object X?', q])
            for q, (s, e) in zip(c['queries'], c['windows'])
        ]
        frames = round(c['duration'] * 30)
        videos.append(dict(
            video_uid=c['video_uid'], split=split,
            clips=[dict(clip_uid=c['clip_uid'], video_start_sec=0.0,
                        video_end_sec=c['duration'], video_start_frame=0,
                        video_end_frame=frames, clip_start_sec=0,
                        clip_end_sec=c['duration'], clip_start_frame=0,
                        clip_end_frame=frames,
                        source_clip_uid=c['video_uid'],
                        annotations=[dict(language_queries=queries,
                                          annotation_uid=c['ann_uid'])])]))
    return dict(version='2.0', date='synthetic',
                description=f'NLQ Annotations ({split})', videos=videos)


def make_ego4d_nlq(root: PathLike,
                   splits: Optional[Dict[str, int]] = None,
                   queries_per_video: int = 2,
                   num_feats: Tuple[int, int] = (24, 40),
                   vid_dim: int = 2304,
                   txt_dim: int = 512,
                   query_len: Tuple[int, int] = (4, 8),
                   plant: bool = True,
                   signal: float = 3.0,
                   num_topics: Optional[int] = None,
                   compress: bool = True,
                   seed: int = 0) -> SyntheticData:
    """Write an Ego4D-NLQ-shaped dataset in GroundNLQ's layout.

    Features are at GroundNLQ's rate (stride 16.043 frames at 30 fps, i.e.
    ``EGO4D_CLIP_LEN`` ≈ 0.535 s per feature); windows cover whole features.

    Args:
        root: output directory.
        splits (dict): split -> number of clips. Default
            ``{'train': 4, 'val': 2}``.
        queries_per_video (int): queries per clip (disjoint windows).
        num_feats (tuple): inclusive range of T.
        vid_dim / txt_dim (int): feature widths (2304 / 512 officially).
        query_len (tuple): inclusive range of L.
        plant, signal, num_topics, seed: see :func:`make_qvhighlights`.
        compress (bool): ``np.savez_compressed`` values, as GroundNLQ does.

    Returns:
        SyntheticData: ``annotations[split]`` = flattened jsonl,
        ``extra['nlq_{split}']`` = nested official json, ``video_root`` /
        ``query_root`` = the LMDB stores.
    """
    root, rng = Path(root), np.random.default_rng(seed)
    splits = splits or {'train': 4, 'val': 2}
    planter = _Planter(rng, txt_dim, vid_dim, signal, plant)
    vocabulary = _vocabulary(planter, num_topics)
    recipe, query_recipe = ego4d_nlq_recipes(vid_dim, seed)
    video_root = root / 'lmdb' / 'video_features'
    query_root = root / 'lmdb' / 'text_features'
    vid_w = LMDBWriter(video_root, array_name='features', compress=compress,
                       meta=recipe, overwrite=True, resume=False)
    txt_w = LMDBWriter(query_root, array_name='token_features',
                       compress=compress, meta=query_recipe,
                       overwrite=True, resume=False)
    data_dir = root / 'ego4d_data'
    annotations, extra = {}, {}
    for split, num_videos in splits.items():
        rows, clips = [], []
        for _ in range(num_videos):
            t = int(rng.integers(num_feats[0], num_feats[1] + 1))
            clip = dict(video_uid=_uid(rng), clip_uid=_uid(rng),
                        ann_uid=_uid(rng), duration=t * EGO4D_CLIP_LEN,
                        queries=[], windows=[])
            video = planter.noise((t, vid_dim))
            for i, (a, b) in enumerate(_segments(rng, t, queries_per_video)):
                if vocabulary:
                    obj = int(rng.integers(len(vocabulary)))
                    text_vec, video_vec = vocabulary[obj]
                else:  # the object name is drawn below (same files as ever)
                    obj, (text_vec, video_vec) = None, planter.topic()
                planter.add(video[a:b], video_vec)
                length = int(rng.integers(query_len[0], query_len[1] + 1))
                query = planter.noise((length, txt_dim))
                planter.add(query, text_vec)
                qid = f"{clip['ann_uid']}_{i}"
                txt_w.add(qid, query)
                name = rng.choice(_OBJECTS) if obj is None else _OBJECTS[obj]
                text = f'where did i put the {name}?'
                window = [a * EGO4D_CLIP_LEN, b * EGO4D_CLIP_LEN]
                clip['queries'].append(text)
                clip['windows'].append(window)
                rows.append(dict(query=text, query_id=qid,
                                 duration=clip['duration'],
                                 video_id=clip['clip_uid'], query_type='nlq',
                                 timestamps=[window]))
            vid_w.add(clip['clip_uid'], video)
            clips.append(clip)
        annotations[split] = data_dir / f'ego4d_nlq_{split}_v2.jsonl'
        _write_jsonl(annotations[split], rows)
        nested = data_dir / 'ego4d_nlq_v2_ori_data' / f'nlq_{split}.json'
        nested.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(nested,
                           json.dumps(_nlq_json(split, clips)).encode())
        extra[f'nlq_{split}'] = nested
    vid_w.commit()
    txt_w.commit()
    return SyntheticData(root, annotations, video_root, query_root, recipe,
                         extra)
