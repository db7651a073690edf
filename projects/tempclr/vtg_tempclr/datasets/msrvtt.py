"""MSR-VTT 1k-A (JSFusion) text-video retrieval as MMPT evaluates it.

Files (fairseq ``examples/MMPT/projects/retri/videoclip/test_vtt_zs.yaml``):
``MSRVTT_JSFUSION_test.csv``, a CSV with a header row whose ``video_id`` and
``sentence`` columns MMPT's ``MSRVTTMetaProcessor`` reads (the file also has
``key`` and ``vid_key``), one row per test pair; ``{vfeat_dir}/{video_id}.npy``
``[T, 512]`` S3D features. As MMPT's ``VideoProcessor`` + ``DSAligner``, the
video row is the first ``min(32, T)`` feature rows.
"""
import csv
from typing import List

from vtg_plugins.registry import DATASETS
from .downstream import ClipCaptionDataset, PathLike, require_file

_COLUMNS = ('video_id', 'sentence')


def read_msrvtt_pairs(path: PathLike) -> List[dict]:
    """``[{'video_id', 'sentence', 'row'}]`` of an MSR-VTT test CSV, in file
    order (``row``: 0-based data row).

    Raises:
        FileNotFoundError: when the file is missing.
        ValueError: naming the file when the header lacks a column, or
            naming the line when a row has no video id.
    """
    path = require_file(path, 'MSR-VTT test list')
    with open(path, newline='', encoding='utf-8') as f:
        reader = csv.DictReader(f)
        absent = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
        if absent:
            raise ValueError(f'MSR-VTT test list {path}: header '
                             f'{reader.fieldnames} lacks columns {absent}')
        pairs = []
        for row, rec in enumerate(reader):
            video = (rec.get('video_id') or '').strip()
            if not video:
                raise ValueError(f'MSR-VTT test list {path}: line '
                                 f'{reader.line_num} has no video_id')
            pairs.append(
                dict(video_id=video, sentence=rec['sentence'], row=row,
                     line=reader.line_num))
    if not pairs:
        raise ValueError(f'MSR-VTT test list {path} holds no pair')
    return pairs


@DATASETS.register_module()
class MSRVTTRetrievalDataset(ClipCaptionDataset):
    """MSR-VTT text-video retrieval: one item per (video, sentence) pair.

    Each item has one video row and one caption row (see
    :class:`~.downstream.ClipCaptionDataset`); its data sample holds
    ``video_id``, ``qid`` (the pair's 0-based row in the CSV) and
    ``sample_idx``. Text i's ground truth is video i, as
    ``TextVideoRetrievalMetric`` assumes.

    Args:
        ann_file: ``MSRVTT_JSFUSION_test.csv`` (relative: to
            ``data_root``).
        vfeat_dir: feature directory.
        vocab_file: local BERT ``vocab.txt``.
        **kwargs: :class:`~.downstream.ClipCaptionDataset` arguments.
    """

    def __init__(self, ann_file: PathLike, vfeat_dir: PathLike,
                 vocab_file: PathLike, **kwargs) -> None:
        super().__init__(
            vfeat_dir, vocab_file, ann_file=str(ann_file), **kwargs)

    def load_data_list(self) -> List[dict]:
        """Data infos of the CSV's pairs.

        Raises:
            FileNotFoundError: naming the CSV line and the file when a
                video has no feature file (MMPT would crash mid-evaluation).
            ValueError: naming the line for an empty sentence.
        """
        data_list = []
        for pair in read_msrvtt_pairs(self.ann_file):
            where = (f'{self.ann_file}: line {pair["line"]} (video '
                     f'{pair["video_id"]!r})')
            if pair['video_id'] not in self.features:
                raise FileNotFoundError(
                    f'{where}: video feature file '
                    f'{self.features.expected_file(pair["video_id"])} does '
                    'not exist')
            data_list.append(
                dict(
                    video_id=pair['video_id'],
                    qid=pair['row'],
                    start=0,
                    end=None,
                    caption=pair['sentence'],
                    token_ids=self.captions.token_ids(
                        pair['sentence'], where + ' sentence')))
        return data_list
