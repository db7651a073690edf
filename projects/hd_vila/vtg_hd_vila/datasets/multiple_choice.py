"""Multiple-choice video QA data of HD-VILA: TGIF Action / Transition
(official ``HDVILAVideoQADataset`` with ``task`` ``action`` /
``transition``) and MSRVTT-MC (official ``HDVILAMSRVTTMCEvalDataset``).

Annotation files (``.jsonl``):

* TGIF ``{action,transition}_{train,val,test}.jsonl``: ``{"gif_name":
  ..., "question": "What does the butterfly do 10 or more than 10 times ?",
  "options": [5 strings], "answer": 4}``; each option is encoded as
  ``question + ' ' + option`` (official collator); ``question_id`` is the
  record's 0-based position in its file;
* MSRVTT-MC ``mc_test.jsonl``: ``{"clip_name": "video9770", "options": [5
  captions], "answer": 0, "qid": ...}``; each option (a caption) is
  encoded alone, the video is ``<video>/<last part of clip_name>.mp4`` and
  ``question_id`` is the record's ``qid``.

The official collators take exactly 5 options per question (``n_options``);
a record with another number is refused here.
"""
from typing import List, Tuple

from vtg_plugins.registry import DATASETS
from .annotations import field
from .base import HDVILABaseDataset

TGIF_MC_TASKS = ('action', 'transition')


class _MultipleChoiceDataset(HDVILABaseDataset):
    """Items with ``option_ids`` / ``option_mask`` (``int64 [num_options,
    max_txt_len]``) and ``gt_label`` (the right option)."""

    def __init__(self,
                 ann_file: str,
                 vocab_file: str,
                 max_txt_len: int,
                 num_options: int = 5,
                 data_prefix: dict = None,
                 **kwargs) -> None:
        if num_options < 2:
            raise ValueError(f'num_options must be at least 2, got '
                             f'{num_options}')
        self.num_options = int(num_options)
        super().__init__(ann_file, vocab_file, max_txt_len, data_prefix,
                         **kwargs)

    def options(self, record: dict, where: str) -> List[str]:
        """The record's ``options`` (``num_options`` non-empty strings)."""
        options = field(record, 'options', where, list)
        if len(options) != self.num_options:
            raise ValueError(f'{where}: {len(options)} options, expected '
                             f'{self.num_options}')
        return self.texts(options, where, 'option')

    def answer(self, record: dict, where: str) -> int:
        """The record's ``answer`` (an option index; an integer string is
        accepted, as the official ``int(answer)``)."""
        answer = field(record, 'answer', where, (int, str))
        try:
            label = int(answer)
        except ValueError:
            raise ValueError(f'{where}: answer {answer!r} is not an option '
                             'index') from None
        if not 0 <= label < self.num_options:
            raise ValueError(f'{where}: answer {label} is outside the '
                             f'{self.num_options} options')
        return label

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        info['option_ids'] = info.pop('token_ids')
        info['option_mask'] = info.pop('token_mask')
        return info


@DATASETS.register_module()
class HDVILATGIFMultipleChoiceDataset(_MultipleChoiceDataset):
    """TGIF Action / Transition: one item per question.

    Data info keys: ``question_id``, ``video_id``, ``filename``,
    ``question``, ``options``, ``option_ids`` / ``option_mask`` (``question
    + ' ' + option``), ``gt_label``; ``ann_file``, ``line``,
    ``sample_idx``.

    Args:
        ann_file (str): the annotation file.
        vocab_file (str): local BERT ``vocab.txt``.
        max_txt_len (int): official 30.
        task (str): ``'action'`` or ``'transition'`` (recorded).
        num_options (int): official 5.
        data_prefix (dict): ``video``: the folder of the ``.mp4`` files.
        **kwargs: :class:`~.base.HDVILABaseDataset` arguments.
    """
    ANN_WHAT = 'HD-VILA TGIF multiple-choice annotation'

    def __init__(self, ann_file: str, vocab_file: str, max_txt_len: int,
                 task: str, **kwargs) -> None:
        if task not in TGIF_MC_TASKS:
            raise ValueError(f'task must be one of {TGIF_MC_TASKS}, got '
                             f'{task!r}')
        self.task = task
        super().__init__(ann_file, vocab_file, max_txt_len, **kwargs)

    def parse_record(self, record: dict, where: str,
                     index: int) -> Tuple[dict, List[str]]:
        key = 'gif_name' if 'gif_name' in record else 'video_id'
        video_id = field(record, key, where, str)
        question = self.texts([field(record, 'question', where)], where,
                              'question')[0]
        options = self.options(record, where)
        info = dict(
            question_id=index,
            video_id=video_id,
            filename=self.video_path(video_id),
            question=question,
            options=options,
            gt_label=self.answer(record, where))
        return info, [question + ' ' + option for option in options]


@DATASETS.register_module()
class HDVILAMSRVTTMCDataset(_MultipleChoiceDataset):
    """MSRVTT-MC (evaluation only): one item per question.

    Data info keys: ``question_id`` (the record's ``qid``), ``video_id``,
    ``filename``, ``options``, ``option_ids`` / ``option_mask``,
    ``gt_label``; ``ann_file``, ``line``, ``sample_idx``.

    Args:
        ann_file (str): ``mc_test.jsonl``.
        vocab_file (str): local BERT ``vocab.txt``.
        max_txt_len (int): official 50 (the retrieval config).
        num_options (int): official 5.
        data_prefix (dict): ``video``: the folder of the ``.mp4`` files.
        **kwargs: :class:`~.base.HDVILABaseDataset` arguments.
    """
    ANN_WHAT = 'HD-VILA MSRVTT-MC annotation'

    def parse_record(self, record: dict, where: str,
                     index: int) -> Tuple[dict, List[str]]:
        clip_name = field(record, 'clip_name', where, str)
        options = self.options(record, where)
        info = dict(
            question_id=field(record, 'qid', where, (int, str)),
            video_id=clip_name,
            filename=self.video_path(clip_name.split('/')[-1]),
            options=options,
            gt_label=self.answer(record, where))
        return info, options

    def load_data_list(self) -> List[dict]:
        """As the base, refusing a repeated ``qid`` (the official
        evaluation keys answers by it)."""
        infos = super().load_data_list()
        seen = {}
        for info in infos:
            qid = info['question_id']
            if qid in seen:
                raise ValueError(
                    f'{info["ann_file"]} line {info["line"]}: qid {qid!r} '
                    f'repeats line {seen[qid]}')
            seen[qid] = info['line']
        return infos
