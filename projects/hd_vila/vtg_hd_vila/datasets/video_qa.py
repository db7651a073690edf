"""Open-ended video QA data of HD-VILA: TGIF FrameQA and MSRVTT-QA
(official ``HDVILAVideoQADataset`` with ``task`` ``frameqa`` /
``msrvtt_qa``).

Annotation files (``.jsonl``, official ``mk_tgif_qa_dataloader``):

* TGIF ``frameqa_{train,val,test}.jsonl``: ``{"gif_name":
  "tumblr_no73q2fm0I1uuf348o1_250", "question": "what is ...?", "answer":
  "cookie", "answer_type": "object"}``, the video
  ``<video>/<gif_name>.mp4`` (``videos_mp4``);
* MSRVTT-QA ``{train,val,test}.jsonl``: ``{"video_id": "video6513",
  "question": ..., "answer": "couch", "answer_type": "what"}``, the video
  ``<video>/<video_id>.mp4``.

The answer vocabulary is the official ``ans2label`` json (``{answer:
label}``: ``frameqa_trainval_ans2label.json``, ``train_ans2label.json``).
``question_id`` is the record's 0-based position in its file, as official.
A GT answer outside the vocabulary gets ``answer_label = -1`` in test mode:
the model cannot predict it, so the exact-match evaluation (which compares
answer strings) counts it as wrong, as official. In training such an
answer is an error naming the file and line (the official training crashes
on it with a bare ``KeyError``), unless ``train_oov='ignore'``, which keeps
the question with label -1 for the loss to skip.
"""
from typing import Dict, List, Tuple

from vtg_plugins.evaluation.functional import ANSWER_TYPES
from vtg_plugins.registry import DATASETS
from .annotations import field, read_json_dict
from .base import HDVILABaseDataset, token_row

#: label of a GT answer outside the answer vocabulary
OUT_OF_VOCAB = -1


def load_ans2label(path: str) -> Dict[str, int]:
    """The official answer vocabulary ``{answer: label}``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: invalid JSON, not an object, empty, a non-integer
            label, or labels that are not ``0 .. n - 1`` each once (names
            the file and the first bad entry).
    """
    ans2label = read_json_dict(path, 'answer vocabulary (ans2label)')
    if not ans2label:
        raise ValueError(f'answer vocabulary {path} is empty')
    seen: Dict[int, str] = {}
    for answer, label in ans2label.items():
        if not isinstance(label, int) or isinstance(label, bool):
            raise ValueError(f'answer vocabulary {path}: the label of '
                             f'{answer!r} is {label!r}, not an integer')
        if not 0 <= label < len(ans2label):
            raise ValueError(
                f'answer vocabulary {path}: the label {label} of {answer!r} '
                f'is outside [0, {len(ans2label)}) (labels must be 0 .. n-1)')
        if label in seen:
            raise ValueError(f'answer vocabulary {path}: label {label} is '
                             f'given to both {seen[label]!r} and {answer!r}')
        seen[label] = answer
    return ans2label


@DATASETS.register_module()
class HDVILAVideoQADataset(HDVILABaseDataset):
    """One item per question (official evaluation groups of one).

    Data info keys: ``question_id``, ``video_id``, ``filename``,
    ``text_ids`` / ``text_mask`` (the question, ``int64
    [max_txt_len]``), ``question``, ``answer`` (GT string), ``answer_type``,
    ``answer_label`` (its label, -1 outside the vocabulary); ``ann_file``,
    ``line``, ``sample_idx``.

    Args:
        ann_file (str): the annotation file.
        ans2label_file (str): the answer vocabulary json.
        vocab_file (str): local BERT ``vocab.txt``.
        max_txt_len (int): official 30 (TGIF) / 100 (MSRVTT-QA).
        task (str): ``'frameqa'`` or ``'msrvtt_qa'``.
        train_oov (str): a training answer outside the vocabulary:
            ``'error'`` (default) or ``'ignore'`` (label -1, no loss).
        data_prefix (dict): ``video``: the folder of the ``.mp4`` files.
        **kwargs: :class:`~.base.HDVILABaseDataset` arguments.

    Attributes:
        ans2label (dict): the vocabulary; ``num_answers`` its size (the
            classifier's outputs).
    """
    ANN_WHAT = 'HD-VILA video QA annotation'

    def __init__(self,
                 ann_file: str,
                 ans2label_file: str,
                 vocab_file: str,
                 max_txt_len: int,
                 task: str,
                 train_oov: str = 'error',
                 data_prefix: dict = None,
                 **kwargs) -> None:
        if train_oov not in ('error', 'ignore'):
            raise ValueError("train_oov must be 'error' or 'ignore', got "
                             f'{train_oov!r}')
        self.train_oov = train_oov
        if task not in ANSWER_TYPES:
            raise ValueError(f'task must be one of {sorted(ANSWER_TYPES)} '
                             f'(open-ended QA), got {task!r}')
        self.task = task
        self.ans2label = load_ans2label(ans2label_file)
        self.num_answers = len(self.ans2label)
        super().__init__(ann_file, vocab_file, max_txt_len, data_prefix,
                         **kwargs)

    def parse_record(self, record: dict, where: str,
                     index: int) -> Tuple[dict, List[str]]:
        key = 'gif_name' if 'gif_name' in record else 'video_id'
        video_id = field(record, key, where, str)
        question = self.texts([field(record, 'question', where)], where,
                              'question')
        answer = field(record, 'answer', where, str)
        answer_type = field(record, 'answer_type', where, str)
        if answer_type not in ANSWER_TYPES[self.task]:
            raise ValueError(
                f'{where}: answer_type {answer_type!r} is not one of the '
                f'{self.task} types {ANSWER_TYPES[self.task]}')
        label = self.ans2label.get(answer, OUT_OF_VOCAB)
        if (label == OUT_OF_VOCAB and not self.test_mode
                and self.train_oov == 'error'):
            raise ValueError(
                f'{where}: the training answer {answer!r} is not in the '
                f'answer vocabulary ({len(self.ans2label)} answers); fix the '
                "record or set train_oov='ignore' to train without it")
        info = dict(
            question_id=index,
            video_id=video_id,
            filename=self.video_path(video_id),
            question=question[0],
            answer=answer,
            answer_type=answer_type,
            answer_label=label)
        return info, question

    def get_data_info(self, idx: int) -> dict:
        return token_row(super().get_data_info(idx), 0)
