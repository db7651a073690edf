"""Directory backend: one ``{key}.npy`` or ``{key}.npz`` file per item.

This is the official R²-Tuning cache layout (yeliudev/R2-Tuning
``tools/extract_feat.py``, read by ``datasets/grounding.py``):
``clip_b32_vid_k4/{vid}.npy`` holds fp16 ``[T, k, P, C]`` (last k CLIP
blocks, all P tokens per frame) and ``clip_b32_txt_k4/{qid}.npy`` holds fp16
``[L, k, C]`` (the L non-padding tokens). The directory is the store root;
its ``meta.json`` (absent in official caches) holds the recipe.
"""
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from vtg_plugins.utils.io import atomic_save_npy, atomic_write_bytes

from .base import (FEATURE_STORES, FeatureStore, PathLike, StoreWriter,
                   npz_bytes)

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
            files = {}
            for path in sorted(self.root.iterdir()):
                if path.suffix in _EXTS and not path.name.startswith('.'):
                    # .npy wins over an .npz of the same stem
                    if path.stem not in files or path.suffix == '.npy':
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

    def _read(self, key: str) -> np.ndarray:
        path = self._index()[key]
        try:
            data = np.load(path, allow_pickle=False)
            if isinstance(data, np.lib.npyio.NpzFile):
                with data:
                    return self._pick(data, path)
            return data
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(f'corrupt feature file {path} (key {key!r}): '
                             f'{e}') from None

    def _pick(self, npz, path: Path) -> np.ndarray:
        for name in self.npz_keys:
            if name in npz.files:
                return npz[name]
        if len(npz.files) == 1:
            return npz[npz.files[0]]
        raise ValueError(f'{path} holds arrays {npz.files}, none of '
                         f'{list(self.npz_keys)}')
