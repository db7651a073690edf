"""What the inference API accepts as a video: a video file, a feature file
(one item of a feature store) or an array of features.

A feature file is ``{store}/{vid}.npy`` / ``.npz`` / ``.pt`` holding
``[T, ...]`` features (one row per clip); its store's ``meta.json`` holds
the recipe it was made with, which is checked against the recipe the model
was trained on before the features are used.
"""
import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Optional, Set, Union

import numpy as np
import torch

from vtg_plugins.datasets.feature_stores import META_FILE, read_meta
from vtg_plugins.features import check_recipe
from vtg_plugins.features.frames import stated_duration

PathLike = Union[str, os.PathLike]
#: suffixes read as feature files (anything else is decoded as a video)
FEATURE_FILE_SUFFIXES = ('.npy', '.npz', '.pt')
#: array names tried in an ``.npz`` (as the directory feature store does)
NPZ_KEYS = ('features', 'token_features')


def is_feature_file(path: PathLike) -> bool:
    """Whether ``path`` names a feature file (by its suffix)."""
    return Path(path).suffix.lower() in FEATURE_FILE_SUFFIXES


def load_feature_file(path: PathLike) -> np.ndarray:
    """The features ``[T, ...]`` of a ``.npy``, ``.npz`` (array
    ``features`` or ``token_features``, or its only array) or ``.pt`` (a
    tensor, loaded with ``weights_only=True``) file.

    Raises:
        FileNotFoundError / ValueError: naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'feature file {path} does not exist')
    try:
        if path.suffix.lower() == '.pt':
            data = torch.load(path, map_location='cpu', weights_only=True)
            if not isinstance(data, torch.Tensor):
                raise ValueError(f'holds a {type(data).__name__}, not a '
                                 'tensor')
            if data.dtype == torch.bfloat16:  # numpy has no bfloat16
                data = data.float()
            return data.numpy()
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            return data
        with data:
            names = [n for n in NPZ_KEYS if n in data.files]
            if not names and len(data.files) == 1:
                names = data.files
            if not names:
                raise ValueError(f'holds arrays {data.files}, none of '
                                 f'{list(NPZ_KEYS)}')
            return data[names[0]]
    except (ValueError, OSError, EOFError, RuntimeError,
            pickle.UnpicklingError, zipfile.BadZipFile) as e:
        raise ValueError(f'cannot read feature file {path}: {e}') from None


class FeatureFileRecipeCheck:
    """Check feature files against the recipe a model was trained on.

    The recipe of a feature file is its store's ``meta.json`` (the file's
    directory). A store without one is accepted with one warning per store
    (official caches carry none).

    Args:
        expected (dict): the recipe fields to compare (see
            :func:`~vtg_plugins.features.check_recipe`).
    """

    def __init__(self, expected: dict) -> None:
        self.expected = dict(expected)
        self._warned: Set[Path] = set()

    def __call__(self, path: PathLike) -> None:
        """Raise ``ValueError`` naming ``path`` and each differing field
        when its store's recipe differs from the expected one
        (``FileNotFoundError`` when there is no such file)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f'feature file {path} does not exist')
        meta = read_meta(path.parent)
        if meta:
            check_recipe(meta, self.expected, f'feature file {path}')
        elif path.parent not in self._warned:
            self._warned.add(path.parent)
            warnings.warn(
                f'feature file {path}: its store {path.parent} has no '
                f'{META_FILE}, so its recipe cannot be checked against the '
                f"model's {self.expected}")


def probe_duration(path: PathLike) -> Optional[float]:
    """Duration (s) the video file states
    (:func:`vtg_plugins.features.frames.stated_duration`), or None when it
    states none or PyAV cannot open it (decord may still read it)."""
    import av
    try:
        stated = stated_duration(path)
    except (av.FFmpegError, IndexError):
        return None
    return None if stated is None else stated[0]
