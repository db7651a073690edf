"""Readers and atomic writers of the official prediction / submission files.

* QVHighlights (CodaLab): ``hl_{val,test}_submission.jsonl``, one record
  per line: ``{"qid", "query", "vid", "pred_relevant_windows":
  [[st, ed, score], ...], "pred_saliency_scores": [...]}``.
* Ego4D NLQ (EvalAI): ``{"version": "1.0", "challenge":
  "ego4d_nlq_challenge", "results": [{"clip_uid", "annotation_uid",
  "query_idx", "predicted_times": [[st, ed], ...]}, ...]}``.

Every write goes to a temporary file in the target directory and is moved
into place with ``os.replace``, so a crash never leaves a partial file.
"""
import json
from typing import Any, Iterable, List, Sequence

from vtg_plugins.utils.io import atomic_write_text

EGO4D_NLQ_VERSION = '1.0'
EGO4D_NLQ_CHALLENGE = 'ego4d_nlq_challenge'
QVH_KEYS = ('qid', 'query', 'vid', 'pred_relevant_windows',
            'pred_saliency_scores')


def _decode(raw: bytes, path: str, line: int = 0) -> str:
    """UTF-8 text of ``raw``; an undecodable byte names file and position."""
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError as e:
        where = f'{path}:{line}' if line else str(path)
        raise ValueError(
            f'{where}: not UTF-8 text (byte {raw[e.start:e.start + 1]!r} at '
            f'offset {e.start}{" of the line" if line else ""}); json files '
            f'must be UTF-8') from None


def load_json(path: str) -> Any:
    """Read a json file; a parse or decoding error names the file and
    position."""
    with open(path, 'rb') as f:
        text = _decode(f.read(), path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f'{path}: invalid json ({e})') from None


def load_jsonl(path: str) -> List[dict]:
    """Read a jsonl file (blank lines skipped); errors name file and line."""
    records = []
    with open(path, 'rb') as f:
        for i, raw in enumerate(f, 1):
            line = _decode(raw, path, i)
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f'{path}:{i}: invalid json ({e})') from None
            if not isinstance(rec, dict):
                raise ValueError(f'{path}:{i}: expected a json object, got '
                                 f'{type(rec).__name__}')
            records.append(rec)
    return records


def dump_qvhighlights_submission(records: Iterable[dict], path: str) -> str:
    """Write QVHighlights prediction records as jsonl (CodaLab format).

    Only the official keys are kept (in official order); records need at
    least ``qid`` and one of the prediction keys.
    """
    lines = []
    for r in records:
        if 'qid' not in r or not (
            {'pred_relevant_windows', 'pred_saliency_scores'} & set(r)):
            raise ValueError(f'{path}: record {r.get("qid")!r} needs qid and '
                             f'pred_relevant_windows / pred_saliency_scores')
        lines.append(json.dumps({k: r[k] for k in QVH_KEYS if k in r}))
    return atomic_write_text(path, '\n'.join(lines) + '\n')


def dump_ego4d_nlq_submission(results: Sequence[dict], path: str) -> str:
    """Write an Ego4D NLQ EvalAI submission json.

    Args:
        results (Sequence[dict]): records with ``clip_uid``,
            ``annotation_uid``, ``query_idx`` and ``predicted_times``.
        path (str): output file.
    """
    keys = ('clip_uid', 'annotation_uid', 'query_idx', 'predicted_times')
    out = []
    for r in results:
        missing = [k for k in keys if k not in r]
        if missing:
            raise ValueError(f'{path}: result {r} misses {missing}')
        out.append({k: r[k] for k in keys})
    doc = dict(
        version=EGO4D_NLQ_VERSION, challenge=EGO4D_NLQ_CHALLENGE, results=out)
    return atomic_write_text(path, json.dumps(doc))


def check_ego4d_nlq_submission(doc: dict, path: str = 'submission') -> list:
    """Return ``results`` of an EvalAI submission after the official CLI's
    ``version`` / ``challenge`` checks."""
    if not isinstance(doc, dict):
        raise ValueError(f'{path}: expected a json object')
    if doc.get('version') != EGO4D_NLQ_VERSION:
        raise ValueError(f'{path}: Ego4D version does not match (expected '
                         f'{EGO4D_NLQ_VERSION!r}, got {doc.get("version")!r})')
    if doc.get('challenge') != EGO4D_NLQ_CHALLENGE:
        raise ValueError(f'{path}: Ego4D challenge does not match (expected '
                         f'{EGO4D_NLQ_CHALLENGE!r}, got '
                         f'{doc.get("challenge")!r})')
    if not isinstance(doc.get('results'), list):
        raise ValueError(f'{path}: "results" must be a list')
    return doc['results']
