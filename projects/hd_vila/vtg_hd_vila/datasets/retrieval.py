"""Text-video retrieval data of HD-VILA (official
``HDVILAVideoRetrievalDataset``).

Annotation files (official configs, one record per line of a ``.jsonl``, or
a ``.json`` list):

* MSR-VTT ``train9k.jsonl`` / ``test1ka.jsonl`` (``vis_format: video``):
  ``{"clip_id": "video7020", "text": "a woman is ..."}``; the video is
  ``<video>/<last part of clip_id>.mp4`` (``videos_6fps``);
* DiDeMo ``{train,test}_frame.jsonl``, LSMDC ``train_101k_frame.jsonl`` /
  ``test_1k_frame.jsonl``, ActivityNet ``train.jsonl`` / ``val1.jsonl``
  (``vis_format: frame``): ``{"clip_id": ..., "text": ...,
  "num_frame": N}``, the frames under ``<frames>/<clip_id>/`` and
  ``<lr_frames>/<clip_id>/`` (see :mod:`.video_reading`).

``text`` is one caption or a list of them; from a list the official code
draws one caption each time the item is read (``random.sample(texts, 1)``,
also at test time), as is done here. Each record is one (video, caption)
pair: the i-th caption's ground truth is the i-th video, as the official
evaluation (and ``TextVideoRetrievalMetric``) assumes.
"""
import random
from typing import List, Tuple

from vtg_plugins.registry import DATASETS
from .annotations import field
from .base import VIS_FORMATS, HDVILABaseDataset, frame_roots, token_row


@DATASETS.register_module()
class HDVILAVideoRetrievalDataset(HDVILABaseDataset):
    """One item per annotation record: a video (or frame folder) and one
    caption.

    Data info keys: ``clip_id``, ``video_id`` (= ``clip_id``), ``qid`` (the
    record's 0-based position; the retrieval metric's key), ``text_ids`` /
    ``text_mask`` (``int64 [max_txt_len]``, the drawn caption), ``captions``
    (the record's strings), and ``filename`` (videos) or ``frame_dir``,
    ``lr_frame_dir``, ``total_frames`` (frame folders); ``ann_file``,
    ``line``, ``sample_idx``.

    Args:
        ann_file (str): the annotation file.
        vocab_file (str): local BERT ``vocab.txt``.
        max_txt_len (int): official 50.
        vis_format (str): ``'video'`` or ``'frame'``.
        data_prefix (dict): ``video`` for videos; ``frames`` (and optionally
            ``lr_frames``, default ``frames`` with ``video_frames`` ->
            ``video_frames_lr``) for frame folders.
        **kwargs: :class:`~.base.HDVILABaseDataset` arguments.
    """
    ANN_WHAT = 'HD-VILA retrieval annotation'

    def __init__(self,
                 ann_file: str,
                 vocab_file: str,
                 max_txt_len: int,
                 vis_format: str = 'video',
                 data_prefix: dict = None,
                 **kwargs) -> None:
        if vis_format not in VIS_FORMATS:
            raise ValueError(f'vis_format must be one of {VIS_FORMATS}, got '
                             f'{vis_format!r}')
        self.vis_format = vis_format
        if vis_format == 'frame':
            data_prefix = frame_roots(data_prefix or {})
        super().__init__(ann_file, vocab_file, max_txt_len, data_prefix,
                         **kwargs)

    def parse_record(self, record: dict, where: str,
                     index: int) -> Tuple[dict, List[str]]:
        clip_id = field(record, 'clip_id', where, str)
        text = field(record, 'text', where, (str, list))
        if isinstance(text, list) and not text:
            raise ValueError(f'{where}: field "text" is an empty list')
        captions = self.texts(
            text if isinstance(text, list) else [text], where, 'text')
        info = dict(
            clip_id=clip_id,
            video_id=clip_id,
            qid=index,
            captions=captions,
            draw_caption=isinstance(text, list))
        if self.vis_format == 'video':
            info['filename'] = self.video_path(clip_id.split('/')[-1])
        else:
            num_frame = field(record, 'num_frame', where, int)
            if num_frame < 1:
                raise ValueError(f'{where}: num_frame must be positive, got '
                                 f'{num_frame}')
            info.update(
                frame_dir=self.data_prefix['frames'],
                lr_frame_dir=self.data_prefix['lr_frames'],
                total_frames=num_frame)
        return info, captions

    def get_data_info(self, idx: int) -> dict:
        """The info of item ``idx`` with one caption: drawn at random from a
        list (official), else the record's caption."""
        info = super().get_data_info(idx)
        row = (
            random.sample(range(len(info['captions'])), 1)[0]
            if info.pop('draw_caption') else 0)
        return token_row(info, row)
