"""Pieces shared by the downstream datasets (YouCook2, MSR-VTT, CrossTask).

MMPT's downstream datasets read one ``{vfeat_dir}/{video}.npy`` of S3D
features per video (``[T, 512]``, one step per second) and tokenize the
caption text on the fly. :class:`VideoFeatures` reads those files with
checks that name the file; :class:`CaptionEncoder` turns a caption into
MMPT's caption row; :class:`ClipCaptionDataset` is the base of the
retrieval datasets whose item is one video row and one caption row.
"""
import os
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.dataset import BaseDataset

from vtg_plugins.datasets.feature_stores import DirectoryStore
from vtg_plugins.datasets.grounding import check_finite
from .packing import PackTempCLRInputs, build_text_tokens, build_video_rows
from .tokens import SpecialTokens, load_bert_tokenizer, tokenize

PathLike = Union[str, os.PathLike]


def resolve_path(path: PathLike, data_root: Optional[PathLike]) -> Path:
    """``path`` joined to ``data_root`` when it is relative."""
    path = Path(path)
    if data_root and not path.is_absolute():
        return Path(data_root) / path
    return path


def require_file(path: PathLike, what: str) -> Path:
    """``path`` as a ``Path``; raises ``FileNotFoundError`` naming ``what``
    and the path when it is not a file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{what} {path} does not exist')
    return path


class VideoFeatures:
    """Per-video feature files ``{root}/{video}.npy`` (or ``.npz``).

    Args:
        root: the feature directory (``vfeat_dir`` of the official configs).
    """

    def __init__(self, root: PathLike) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(
                f'video feature directory {self.root} does not exist')
        self.store = DirectoryStore(self.root)

    def __contains__(self, video: str) -> bool:
        return video in self.store

    def expected_file(self, video: str) -> Path:
        """The official file name of ``video``'s features."""
        return self.root / f'{video}.npy'

    def load(self, video: str, where: str) -> np.ndarray:
        """The ``[T, D]`` features of ``video`` (``T >= 1``, finite).

        Args:
            video (str): the file stem.
            where (str): the record asking for them, for error messages.

        Raises:
            FileNotFoundError: naming the file when it is absent.
            ValueError: naming the file when it is not ``[T, D]`` with
                ``T >= 1`` or holds NaN / inf.
        """
        if video not in self.store:
            raise FileNotFoundError(
                f'{where}: video feature file {self.expected_file(video)} '
                f'does not exist')
        feat = self.store[video]
        path = self.store.path_of(video)
        if feat.ndim != 2 or feat.shape[0] == 0:
            raise ValueError(
                f'{where}: video features {path} must be [T, D] with T >= 1, '
                f'got shape {list(feat.shape)}')
        check_finite(feat, f'{where}: video features {path}')
        return feat


class CaptionEncoder:
    """Captions to MMPT caption rows ``[CLS] [SEP] tokens [SEP] [PAD]...``.

    Args:
        vocab_file: local ``vocab.txt`` of the BERT tokenizer.
        max_len (int): MMPT's video plus text length (96).
        max_video_len (int): MMPT's video length (32); rows have
            ``max_len - max_video_len`` ids.
        do_lower_case (bool): lower-case before WordPiece (uncased BERT).
    """

    def __init__(self,
                 vocab_file: PathLike,
                 max_len: int = 96,
                 max_video_len: int = 32,
                 do_lower_case: bool = True) -> None:
        self.tokenizer = load_bert_tokenizer(vocab_file, do_lower_case)
        self.special = SpecialTokens.from_tokenizer(self.tokenizer)
        self.max_len = max_len
        self.max_video_len = max_video_len

    def token_ids(self, text: object, where: str) -> List[int]:
        """WordPiece ids of a caption (no special tokens).

        Raises:
            ValueError: naming ``where`` when the caption is not a string or
                holds no token.
        """
        if not isinstance(text, str):
            raise ValueError(f'{where}: caption must be a string, got '
                             f'{type(text).__name__} {text!r}')
        ids = tokenize(self.tokenizer, text) if text.strip() else []
        if not ids:
            raise ValueError(f'{where}: caption {text!r} is empty')
        return ids

    def rows(self, token_lists: Sequence[Sequence[int]]
             ) -> Tuple[torch.Tensor, torch.Tensor]:
        """``caps [N, Lt]`` long and ``cmasks [N, Lt]`` bool of N captions
        given as token-id lists."""
        pairs = [
            build_text_tokens(ids, self.special, self.max_len,
                              self.max_video_len) for ids in token_lists
        ]
        return (torch.stack([p[0] for p in pairs]),
                torch.stack([p[1] for p in pairs]))


class ClipCaptionDataset(BaseDataset):
    """Base of the retrieval datasets: an item is one clip and its caption.

    Subclasses implement ``load_data_list`` returning data infos with
    ``video_id`` (the feature file stem), ``start`` / ``end`` (feature rows
    of the clip, ``end`` exclusive; ``end=None``: the whole video),
    ``token_ids``, ``qid`` and their meta fields. ``prepare_data`` adds
    MMPT's DSAligner rows: ``vfeats [1, Lv, D]`` from the first
    ``min(Lv, end - start)`` rows of the clip, ``vmasks [1, Lv]``,
    ``caps [1, Lt]``, ``cmasks [1, Lt]``.

    Args:
        vfeat_dir: the feature directory (relative: to ``data_root``).
        vocab_file: local BERT ``vocab.txt``.
        max_len (int): MMPT's ``max_len`` (96).
        max_video_len (int): MMPT's ``max_video_len`` (32).
        max_overrun (float): how many rows a clip may end after the last
            feature row (the official slicing keeps the rows that exist,
            right for a rounding overrun); a clip ending later, or starting
            after the last row, is refused.
        pipeline (list, optional): transforms; default
            ``[PackTempCLRInputs(meta_keys=self.meta_keys)]``.
        **kwargs: :class:`BaseDataset` arguments (``ann_file``,
            ``data_root``, ``test_mode``, ...).
    """
    #: data-info fields that the default pipeline puts on the data sample
    meta_keys: Tuple[str, ...] = ('video_id', 'qid', 'sample_idx')

    def __init__(self,
                 vfeat_dir: PathLike,
                 vocab_file: PathLike,
                 max_len: int = 96,
                 max_video_len: int = 32,
                 max_overrun: float = 2.0,
                 pipeline: Optional[Sequence[Union[dict, Callable]]] = None,
                 **kwargs) -> None:
        self.features = VideoFeatures(
            resolve_path(vfeat_dir, kwargs.get('data_root')))
        self.captions = CaptionEncoder(vocab_file, max_len, max_video_len)
        self.max_video_len = max_video_len
        self.max_overrun = max_overrun
        if pipeline is None:
            pipeline = [PackTempCLRInputs(meta_keys=self.meta_keys)]
        super().__init__(pipeline=list(pipeline), **kwargs)

    def _where(self, info: dict) -> str:
        """The record ``info`` in error messages."""
        return f'{self.ann_file}: qid {info["qid"]!r}'

    def prepare_data(self, idx: int) -> dict:
        info = self.get_data_info(idx)
        where = self._where(info)
        feat = self.features.load(info['video_id'], where)
        start, end = info['start'], info['end']
        if end is None:
            end = len(feat)
        self._check_clip(len(feat), start, end, where)
        vfeats, vmasks = build_video_rows(feat, start, end,
                                          self.max_video_len)
        caps, cmasks = self.captions.rows([info['token_ids']])
        info.update(
            vfeats=vfeats[None], vmasks=vmasks[None], caps=caps,
            cmasks=cmasks)
        return self.pipeline(info)

    def _check_clip(self, num_rows: int, start: int, end: int,
                    where: str) -> None:
        if start >= num_rows:
            raise ValueError(
                f'{where}: segment [{start}, {end}) starts after the last of '
                f'the {num_rows} feature rows of its video')
        if end - num_rows > self.max_overrun:
            raise ValueError(
                f'{where}: segment [{start}, {end}) ends {end - num_rows} '
                f'rows after the last of the {num_rows} feature rows of its '
                f'video (max_overrun={self.max_overrun}); wrong feature file?')
