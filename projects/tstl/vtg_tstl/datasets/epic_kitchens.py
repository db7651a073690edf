"""EPIC-Kitchens-100 as CAST / TSTL read it: one comma-separated line per
action segment, ``<video id>,<verb>,<noun>`` (``P20_01_0,6,0``), no header.

The official ``EpicVideoClsDataset`` reads the list with
``pandas.read_csv(header=None, delimiter=',')``, takes column 1 as the verb
and column 2 as the noun, and opens ``<data_path>/<video id>.mp4`` (each
segment is its own clip file). Its loss and metrics use 300 nouns and 97
verbs (``engine_for_compomodel.py``); here a label outside those ranges is an
error naming the list and the line.
"""
import os.path as osp
from typing import Callable, List, Union

from mmaction.datasets import VideoDataset

from vtg_plugins.registry import DATASETS
from .video_list import parse_label, read_list

#: EPIC-Kitchens-100 class counts
NUM_NOUNS, NUM_VERBS = 300, 97


@DATASETS.register_module()
class EpicKitchensDataset(VideoDataset):
    """EPIC-Kitchens-100 action segments with noun and verb labels.

    Args:
        ann_file (str): the official list, ``<video id>,<verb>,<noun>``.
        pipeline (list): the transforms; pack the labels with
            ``PackActionInputs(algorithm_keys=('noun_label', 'verb_label'))``.
        data_prefix (dict): ``dict(video=ROOT)``, the clips' folder.
        suffix (str): appended to the video id (``'.mp4'`` as official).
        num_nouns (int): nouns must be in ``[0, num_nouns)``.
        num_verbs (int): verbs must be in ``[0, num_verbs)``.
        delimiter (str): the column separator (``','`` as official).
        **kwargs: passed to ``VideoDataset``.

    Each data info holds ``filename``, ``noun_label``, ``verb_label`` (ints),
    ``ann_file`` and ``line``; there is no ``label``.
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[dict, Callable]],
                 data_prefix: dict = dict(video=''),
                 suffix: str = '.mp4',
                 num_nouns: int = NUM_NOUNS,
                 num_verbs: int = NUM_VERBS,
                 delimiter: str = ',',
                 **kwargs) -> None:
        self.suffix = suffix
        self.num_nouns = num_nouns
        self.num_verbs = num_verbs
        super().__init__(
            ann_file,
            pipeline=pipeline,
            data_prefix=data_prefix,
            delimiter=delimiter,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """One ``dict(filename, noun_label, verb_label, ann_file, line)`` per
        record."""
        prefix = self.data_prefix.get('video') or ''
        data_list = []
        for line, (video, verb, noun) in read_list(
                self.ann_file, self.delimiter, ('video', 'verb', 'noun')):
            data_list.append(
                dict(
                    filename=osp.join(prefix, video + self.suffix),
                    verb_label=parse_label(verb, self.num_verbs, 'verb',
                                           self.ann_file, line),
                    noun_label=parse_label(noun, self.num_nouns, 'noun',
                                           self.ann_file, line),
                    ann_file=self.ann_file,
                    line=line))
        if not data_list:
            raise ValueError(f'{self.ann_file}: the list has no records')
        return data_list
