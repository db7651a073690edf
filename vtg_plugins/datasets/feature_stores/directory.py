"""Directory backend: one ``{key}.npy`` or ``{key}.npz`` file per item.

This is the official R²-Tuning cache layout (yeliudev/R2-Tuning
``tools/extract_feat.py``, read by ``datasets/grounding.py``):
``clip_b32_vid_k4/{vid}.npy`` holds fp16 ``[T, k, P, C]`` (last k CLIP
blocks, all P tokens per frame) and ``clip_b32_txt_k4/{qid}.npy`` holds fp16
``[L, k, C]`` (the L non-padding tokens). The directory is the store root;
its ``meta.json`` (absent in official caches) holds the recipe.
"""
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from vtg_plugins.utils.io import atomic_save_npy, atomic_write_bytes

from .base import (FEATURE_STORES, FeatureStore, PathLike, StoreWriter,
                   npz_bytes)
from .npy_files import decoding, load_array

_EXTS = ('.npy', '.npz')


class DirectoryWriter(StoreWriter):
    """Write a :class:`DirectoryStore`, one atomic file per item.

    Args:
        root: final directory.
        ext (str): ``'.npy'`` (default) or ``'.npz'`` (array name
            ``features``, compressed when ``compress``).
        compress (bool): compress ``.npz`` files. Default False.
        **kwargs: see :class:`StoreWriter`.
    """

    def __init__(self, root: PathLike, ext: str = '.npy',
                 compress: bool = False, **kwargs):
        super().__init__(root, **kwargs)
        if ext not in _EXTS:
            raise ValueError(f'ext must be one of {_EXTS}, got {ext!r}')
        self.ext, self.compress = ext, compress
        self.done_keys.update(
            p.stem for p in self.staging.iterdir()
            if p.suffix in _EXTS and not p.name.startswith('.'))

    def _add(self, key: str, array: np.ndarray) -> None:
        path = self.staging / f'{key}{self.ext}'
        if self.ext == '.npy':
            atomic_save_npy(path, array)
        else:
            atomic_write_bytes(path, npz_bytes({'features': array},
                                               self.compress))


@FEATURE_STORES.register_module()
class DirectoryStore(FeatureStore):
    """Directory of per-item ``.npy`` / ``.npz`` files.

    Args:
        root: the directory.
        npz_keys (Sequence[str]): array names tried in order inside an
            ``.npz`` file; an archive with a single array needs none.
            Default ``('features', 'token_features')``.
    """
    backend = 'dir'
    writer_cls = DirectoryWriter

    def __init__(self,
                 root: PathLike,
                 npz_keys: Sequence[str] = ('features', 'token_features')):
        super().__init__(root)
        if not self.root.is_dir():
            raise NotADirectoryError(f'directory feature store {self.root} '
                                     'is not a directory')
        self.npz_keys = tuple(npz_keys)
        self._files: Optional[Dict[str, Path]] = None

    def _index(self) -> Dict[str, Path]:
        if self._files is None:
            files: Dict[str, Path] = {}
            for path in sorted(self.root.iterdir()):
                if path.suffix not in _EXTS or path.name.startswith('.'):
                    continue
                if path.stem in files:
                    raise ValueError(
                        f'directory feature store {self.root}: key '
                        f'{path.stem!r} is stored twice, in '
                        f'{files[path.stem].name} and {path.name}; remove '
                        'one')
                files[path.stem] = path
            self._files = files
        return self._files

    def _keys(self) -> List[str]:
        return list(self._index())

    def path_of(self, key: str) -> Path:
        """The file holding ``key``."""
        if key not in self:
            raise KeyError(f'directory feature store {self.root} has no key '
                           f'{key!r} ({len(self)} keys)')
        return self._index()[key]

    def _describe(self, key: str) -> str:
        return f'feature file {self._index()[key]} (key {key!r})'

    def _read(self, key: str) -> np.ndarray:
        with decoding(self._describe(key)), \
                open(self._index()[key], 'rb') as f:
            return load_array(f, os.fstat(f.fileno()).st_size,
                              self.npz_keys, single=True)
