"""Building blocks of feature extraction into stores
(``tools/data/extract_feat.py``): frame sources decoded in DataLoader
workers, and resumable store writers that refuse another recipe."""
import os
from pathlib import Path
from typing import List

import numpy as np
import torch
from torch.utils.data import Dataset

from vtg_plugins.datasets.feature_stores import BACKENDS, META_FILE, read_meta
from vtg_plugins.utils.io import atomic_write_json
from .frames import VideoDecodeError, find_videos, read_video
from .recipe import FeatureRecipe, check_recipe

_FRAME_ERRORS = (VideoDecodeError, FileNotFoundError, ValueError, OSError)


class FrameSources(Dataset):
    """Video id -> uint8 frames (or the error), decoded in workers.

    Args:
        items (list): ``(vid, path, 'videos' | 'frames')``.
        fps (float), crop (int), backend (str): the frame recipe.
        allow_short (bool): accept truncated videos (see
            :func:`~vtg_plugins.features.frames.decode_frames`).
    """

    def __init__(self,
                 items: List[tuple],
                 fps: float,
                 crop: int,
                 backend: str,
                 allow_short: bool = False):
        self.items, self.fps, self.crop = items, fps, crop
        self.backend, self.allow_short = backend, allow_short

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        vid, path, kind = self.items[i]
        try:
            if kind == 'videos':
                return vid, read_video(path, self.fps, self.crop,
                                       self.backend, self.allow_short), None
            frames = np.load(path, allow_pickle=False)
            crop = self.crop
            if frames.dtype != np.uint8 or frames.ndim != 4 or \
                    frames.shape[1:] != (3, crop, crop) or len(frames) == 0:
                raise ValueError(f'expected uint8 [T, 3, {crop}, {crop}] '
                                 f'frames, got {frames.dtype} {frames.shape}')
            return vid, torch.from_numpy(frames), None
        except _FRAME_ERRORS as e:
            return vid, None, f'{path}: {type(e).__name__}: {e}'


def init_worker(worker_id: int) -> None:
    torch.set_num_threads(1)


def resolve_source(src: str, kind: str = 'auto', fps: float = None) -> tuple:
    """``(kind, {vid: path}, frame recipe)`` of a source directory: video
    files (``kind='videos'``, decoded at ``fps``, default 0.5) or frames of
    ``tools/data/extract_frames.py`` (``'frames'``, their ``meta.json``
    gives the rate); ``'auto'`` tells them apart."""
    src = Path(src)
    if not src.is_dir():
        raise NotADirectoryError(f'source directory {src} does not exist')
    if kind == 'auto':
        kind = 'frames' if next(src.glob('*.npy'), None) else 'videos'
    if kind == 'videos':
        return kind, find_videos(src), {'fps': fps or 0.5}
    meta = read_meta(src)
    if 'fps' not in meta and fps is None:
        raise ValueError(f'frame directory {src} has no {META_FILE}: pass '
                         '--fps (the rate the frames were extracted at)')
    if fps is not None and 'fps' in meta and \
            not np.isclose(fps, meta['fps']):
        raise ValueError(f'--fps {fps} disagrees with {src / META_FILE}'
                         f" (fps {meta['fps']})")
    frame_recipe = dict(fps=meta.get('fps', fps))
    for key in ('sampling', 'resize'):
        frame_recipe[key] = meta.get(key, 'unknown')
    paths = {p.stem: p for p in sorted(src.glob('*.npy'))}
    return kind, paths, frame_recipe


def open_writer(backend: str, root: Path, meta: dict, keys: List[str],
                overwrite: bool, **kwargs):
    """A store writer for ``root`` with ``meta``, or None when the store is
    complete. Resumes ``root.partial`` and reopens a finished store that
    lacks keys; refuses either when its recipe differs."""
    reader_cls, writer_cls = BACKENDS[backend]
    staging = root.with_name(root.name + '.partial')
    if root.exists() and not overwrite:
        check_recipe(read_meta(root), meta, str(root))
        missing = set(keys) - set(reader_cls(root).keys())
        if not missing:
            return None
        if staging.exists():
            raise FileExistsError(f'both {root} and {staging} exist; remove '
                                  'one or pass --overwrite')
        print(f'{root}: reopening to add {len(missing)} missing items')
        os.replace(root, staging)
    if staging.exists() and not overwrite:
        check_recipe(read_meta(staging), meta, str(staging))
    writer = writer_cls(
        root, meta=meta, overwrite=overwrite, resume=not overwrite, **kwargs)
    atomic_write_json(writer.staging / META_FILE, meta)
    return writer


def writer_kwargs(backend: str, modality: str, compress: bool = False) -> dict:
    """Writer options of the official layouts per backend.

    Args:
        backend (str): a name of ``BACKENDS``.
        modality (str): ``'video'`` or ``'query'`` (the array name of LMDB
            values: ``features`` / ``token_features``).
        compress (bool): ``np.savez_compressed`` values (``lmdb``; ``dir``
            then writes ``.npz`` files instead of ``.npy``), as GroundNLQ's
            official LMDBs hold.

    Raises:
        ValueError: ``compress`` for a backend that stores raw arrays.
    """
    if backend == 'lmdb':
        return dict(
            array_name='features' if modality == 'video' else 'token_features',
            compress=compress)
    if compress and backend != 'dir':
        raise ValueError(f'the {backend!r} backend stores raw arrays: '
                         "compression applies to 'dir' and 'lmdb'")
    if backend == 'packed':
        return dict(name='features')
    return dict(ext='.npz', compress=True) if compress else dict(ext='.npy')


def default_store_name(recipe: FeatureRecipe, modality: str) -> str:
    """The directory name of a store made with ``recipe``:
    ``clip_{arch}_{vid|txt}_k{k}`` (the official R²-Tuning names, e.g.
    ``clip_b32_vid_k4``), a query store of another query-token recipe than
    the default, or with a text normalizer, adding their names (e.g.
    ``clip_b32_txt_k1_between_sot_eot_ln_final_max30_canonical_question``),
    a video store of other ``frame_features`` than the default adding that
    name (``clip_b32_vid_k1_image_embedding``).
    """
    if modality not in ('video', 'query'):
        raise ValueError(f"modality must be 'video' or 'query', got "
                         f'{modality!r}')
    arch = recipe.backbone[4:].lower().replace('/', '').replace('-', '_')
    name = f"clip_{arch}_{'vid' if modality == 'video' else 'txt'}_" \
        f'k{recipe.k}'
    if modality == 'video' and \
            recipe.frame_features != FeatureRecipe.frame_features:
        name += f'_{recipe.frame_features}'
    if modality == 'query':
        if recipe.text_tokens != FeatureRecipe.text_tokens:
            name += f'_{recipe.text_tokens}'
        if recipe.text_normalizer:
            name += f'_{recipe.text_normalizer}'
    return name
