"""Ego4D NLQ for GroundNLQ: official annotations over feature stores.

Follows houzhijian/GroundNLQ ``ego4d_data/reformat_data.py`` (annotation
flattening) and ``libs/datasets/ego4d_loader.py`` (``Ego4dDataset``):

- one sample per language query with text; ``qid =
  f'{annotation_uid}_{query_idx}'`` where ``query_idx`` indexes the
  annotation's ``language_queries`` (text-less queries included), so every
  prediction maps back to the EvalAI record ``(clip_uid, annotation_uid,
  query_idx)``;
- **text-less queries** (two in the official val split) are skipped, as the
  official code does: they get no prediction, and since the official
  evaluator divides by the number of submitted records they are not counted
  at all. The ``'ego4d_nlq_json'`` loader logs how many it skipped and
  where, so nothing is skipped silently;
- **windows past the clip end** (86 in the official val split) are kept as
  annotated (``window_policy='keep'``): the official evaluator scores them
  as they are and the official loader trains on them unclamped;
- a clip or query **missing from a feature store** is an error naming the
  first ones and the store (``on_missing='error'``); ``'drop'`` removes
  their queries instead (the official narration pre-training drops three
  clips without features, ``filter_missing_video.py``) and is refused for a
  split that is evaluated (``test_mode=True``), where it would change the
  metric's denominator, and where it would leave no query.
"""
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from mmengine.logging import print_log

from vtg_plugins.datasets import GroundingDataset
from vtg_plugins.registry import DATASETS

MISSING_POLICIES = ('error', 'drop')


def parse_nlq_qid(qid: str) -> Optional[Tuple[str, int]]:
    """``'{annotation_uid}_{query_idx}'`` -> ``(annotation_uid, query_idx)``,
    or None when ``qid`` has another form, e.g. a narration query id
    ``'{clip_uid}_narrator-1_{i}'`` (annotation uids hold no ``'_'``)."""
    head, sep, tail = qid.rpartition('_')
    if not sep or not head or '_' in head or not tail.isdigit():
        return None
    return head, int(tail)


@DATASETS.register_module()
class Ego4DNLQDataset(GroundingDataset):
    """GroundNLQ's Ego4D NLQ / narration dataset.

    Data infos are those of :class:`GroundingDataset` plus ``clip_uid``,
    ``annotation_uid`` and ``query_idx`` for NLQ queries (parsed from the
    ``'{annotation_uid}_{query_idx}'`` qid; narration queries have other
    ids and no submission keys).

    Args:
        ann_format (str): ``'ego4d_nlq_json'`` (the official nested
            ``nlq_{split}.json``, default), ``'ego4d_nlq_jsonl'``
            (GroundNLQ's flattened jsonl) or ``'normalized'`` (e.g. the
            narration queries of
            ``projects/groundnlq/tools/build_narration_queries.py``).
        on_missing (str): ``'error'`` or ``'drop'`` for queries whose clip
            (or query features) are not in the stores; see the module doc.
        window_policy (str): defaults to ``'keep'`` (official).
        max_clip_mismatch (float): defaults to 8 features: the official
            clip durations come from frame counts and may differ from the
            features' T by a few features.
        **kwargs: see :class:`GroundingDataset`.
    """

    def __init__(self,
                 *args,
                 ann_format: str = 'ego4d_nlq_json',
                 on_missing: str = 'error',
                 window_policy: str = 'keep',
                 max_clip_mismatch: float = 8.0,
                 **kwargs) -> None:
        if on_missing not in MISSING_POLICIES:
            raise ValueError(f'on_missing must be one of {MISSING_POLICIES},'
                             f' got {on_missing!r}')
        if on_missing == 'drop' and kwargs.get('test_mode', False):
            raise ValueError(
                "on_missing='drop' would change the metric's denominator of "
                'an evaluated split (test_mode=True); provide the features '
                "or use on_missing='error'")
        self.on_missing = on_missing
        super().__init__(
            *args,
            ann_format=ann_format,
            window_policy=window_policy,
            max_clip_mismatch=max_clip_mismatch,
            **kwargs)

    # ------------------------------------------------------------------
    def load_data_list(self) -> List[dict]:
        infos = super().load_data_list()
        for info in infos:
            parsed = parse_nlq_qid(info['qid'])
            if parsed is not None:
                info['clip_uid'] = info['vid']
                info['annotation_uid'], info['query_idx'] = parsed
            elif self.test_mode:
                raise ValueError(
                    f"{self.ann_file}: qid {info['qid']!r} (clip "
                    f"{info['vid']!r}) is not '{{annotation_uid}}_"
                    f"{{query_idx}}', so its prediction cannot be submitted")
        return self._check_stores(infos)

    def _check_stores(self, infos: List[dict]) -> List[dict]:
        """Find queries whose features are absent; raise or drop them."""
        absent: Dict[str, List[str]] = {}
        stores = [('video', self.video_store, 'video_key')]
        if self.query_store is not None:
            stores.append(('query', self.query_store, self.query_key))
        bad = set()
        for kind, store, field in stores:
            keys = {str(info[field]) for info in infos}
            missing = {k for k in keys if k not in store}
            if missing:
                absent[f'{kind} store {store.root}'] = sorted(missing)
                bad.update(i for i, info in enumerate(infos)
                           if str(info[field]) in missing)
        if not absent:
            return infos
        what = '; '.join(f'{where} lacks {len(keys)} key(s): {keys[:5]}'
                         f'{" ..." if len(keys) > 5 else ""}'
                         for where, keys in absent.items())
        if self.on_missing == 'error':
            raise ValueError(f'{Path(self.ann_file)}: {what} '
                             f"(on_missing='drop' removes those queries "
                             f'from a training split)')
        if len(bad) == len(infos):
            raise ValueError(
                f"{self.ann_file}: no query left: on_missing='drop' dropped "
                f'all {len(infos)} queries, none has features ({what})')
        print_log(
            f'{self.ann_file}: dropped {len(bad)} of {len(infos)} queries '
            f'without features: {what}',
            logger='current',
            level=30)
        return [info for i, info in enumerate(infos) if i not in bad]
