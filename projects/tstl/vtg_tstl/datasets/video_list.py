"""The official TSTL / CAST / VideoMAE video lists and the dataset that reads
them.

The official loaders read a list with ``pandas.read_csv(path, header=None,
delimiter=' ')`` and take column 0 as the video (joined to ``data_path``)
and column 1 as the label: ``38483.mp4 146`` (SSv2), ``jf7RDuUTrsQ.mp4 325``
(K400), ``<video> <label>`` (UCF101). There is no header line (a header
would be read as a record); blank lines are skipped, as pandas does.

Unlike the official code, a bad record is an error naming the list, the line
and what is wrong (the official loaders crash on a non-integer label much
later, or silently train on a label outside ``nb_classes``), and every data
info keeps ``ann_file`` and ``line`` (1-based, blank lines counted) so that
the decoding and sampling transforms name the record of a bad video.

A missing video is found when it is read (:class:`DecordWithPyAVInit`
raises ``FileNotFoundError`` naming the video, the list and the line), not
when the list is loaded: lists of 240k K400 videos on network storage are
then loaded without a stat per line. The official loaders instead replace a
missing video by a random other one with a warning.
"""
import os.path as osp
from typing import Callable, Iterator, List, Sequence, Tuple, Union

from mmaction.datasets import VideoDataset

from vtg_plugins.registry import DATASETS


def record_source(results: dict) -> str:
    """``' (list.csv line 3)'`` for a data info that came from a list, else
    ``''``: appended to the errors that name a video."""
    if 'ann_file' in results and 'line' in results:
        return f" ({results['ann_file']} line {results['line']})"
    return ''


def read_list(path: str, delimiter: str,
              fields: Sequence[str]) -> Iterator[Tuple[int, List[str]]]:
    """The records of a delimited list file, as the official pandas read
    takes them.

    Args:
        path (str): the list file.
        delimiter (str): the column separator (``' '``, or ``','`` for
            EPIC-Kitchens).
        fields (Sequence[str]): the names of the columns a record must have
            (for the error message), e.g. ``('video', 'label')``.

    Yields:
        tuple: ``(line, columns)``, ``line`` 1-based; surrounding whitespace
        is stripped and blank lines skipped.

    Raises:
        ValueError: a line with another number of columns (names the file,
            the line and the expected layout).
    """
    layout = delimiter.join(f'<{f}>' for f in fields)
    with open(path, encoding='utf-8') as f:
        for line, text in enumerate(f, start=1):
            text = text.strip()
            if not text:
                continue
            columns = text.split(delimiter)
            if len(columns) != len(fields):
                raise ValueError(
                    f'{path} line {line}: expected {len(fields)} columns '
                    f'{layout!r} separated by {delimiter!r}, got '
                    f'{len(columns)} in {text!r}')
            yield line, columns


def parse_label(value: str, num_classes: int, what: str, path: str,
                line: int) -> int:
    """An integer label in ``[0, num_classes)``.

    Raises:
        ValueError: not an integer (e.g. a header line, which the official
            lists do not have) or out of range; names the file, the line,
            the field and the value.
    """
    try:
        label = int(value)
    except ValueError:
        raise ValueError(
            f'{path} line {line}: {what} {value!r} is not an integer (the '
            'official lists have no header line)') from None
    if not 0 <= label < num_classes:
        raise ValueError(f'{path} line {line}: {what} {label} is outside '
                         f'[0, {num_classes}) ({num_classes} classes)')
    return label


@DATASETS.register_module()
class TSTLVideoDataset(VideoDataset):
    """Videos and labels from an official TSTL list (SSv2, UCF101, K400).

    Args:
        ann_file (str): the list, ``<video> <label>`` per line.
        pipeline (list): the transforms (e.g. :class:`DecordWithPyAVInit`,
            :class:`SegmentSampleFrames`, ...).
        num_classes (int): labels must be in ``[0, num_classes)`` (174
            SSv2, 101 UCF101, 400 K400).
        data_prefix (dict): ``dict(video=ROOT)``, the folder the list's
            paths are relative to (the official ``--data_path``).
        delimiter (str): the column separator (``' '`` as official).
        **kwargs: passed to ``VideoDataset`` (``test_mode``, ``lazy_init``,
            ...).

    Each data info holds ``filename``, ``label``, ``ann_file`` and ``line``.
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[dict, Callable]],
                 num_classes: int,
                 data_prefix: dict = dict(video=''),
                 delimiter: str = ' ',
                 **kwargs) -> None:
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f'TSTLVideoDataset({ann_file}): num_classes '
                             f'must be a positive int, got {num_classes!r}')
        super().__init__(
            ann_file,
            pipeline=pipeline,
            data_prefix=data_prefix,
            num_classes=num_classes,
            delimiter=delimiter,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """One ``dict(filename, label, ann_file, line)`` per record."""
        prefix = self.data_prefix.get('video') or ''
        data_list = []
        for line, (video, label) in read_list(self.ann_file, self.delimiter,
                                              ('video', 'label')):
            data_list.append(
                dict(
                    filename=osp.join(prefix, video),
                    label=parse_label(label, self.num_classes, 'label',
                                      self.ann_file, line),
                    ann_file=self.ann_file,
                    line=line))
        if not data_list:
            raise ValueError(f'{self.ann_file}: the list has no records')
        return data_list
