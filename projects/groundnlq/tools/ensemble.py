"""Post-model ensemble of GroundNLQ predictions (the official ``ensemble.py``).

Usage::

    python projects/groundnlq/tools/ensemble.py OUT PRED1 PRED2 [PRED3 ...]

Each ``PRED`` is an Ego4D NLQ EvalAI file (``{"results": [{"clip_uid",
"annotation_uid", "query_idx", "predicted_times": [[s, e, score], ...]}]}``).
Queries are matched by ``(clip_uid, annotation_uid, query_idx)``, not by
position; every file must hold the same queries. Per query, as in
github.com/houzhijian/GroundNLQ ``ensemble.py``:

1. the top-1 windows of all files are clustered by centre (sorted centres, a
   new cluster when the gap to the previous centre is ``>= distance``
   seconds; windows with identical centres keep the last file's one); each
   cluster gives the average of its middle window (the higher-scored of the
   two middle ones for an even count) and its best window, scored by that
   average of scores;
2. the top ``max_input`` windows of every file plus the cluster windows are
   sorted by score and reduced by the official temporal NMS (IoU over the
   *hull*, suppress ``> nms_thresh``) to ``topk`` windows;
3. short lists are padded by repeating the last window.

``OUT`` holds ``predicted_times`` as ``[[s, e], ...]`` like the official
submission, written atomically.
"""
import argparse
import json
from typing import Dict, List, Sequence, Tuple

from vtg_plugins.evaluation.submission import (EGO4D_NLQ_CHALLENGE,
                                               EGO4D_NLQ_VERSION)
from vtg_plugins.utils.io import atomic_write_text

__all__ = [
    'hull_nms', 'cluster_top1', 'ensemble_query', 'ensemble_results',
    'ensemble_files'
]

Key = Tuple[str, str, int]


def hull_nms(windows: List[List[float]], thresh: float,
             max_after: int) -> List[List[float]]:
    """Official ``temporal_nms``: greedy by descending score (stable),
    overlap = intersection / hull length (0 when the hull is empty),
    suppress when ``> thresh``; a single input is returned as is."""
    if len(windows) == 1:
        return [list(windows[0])]
    rest = sorted(windows, key=lambda w: w[2], reverse=True)
    kept = []
    while len(rest) > 1 and len(kept) < max_after:
        top = rest.pop(0)
        survivors = []
        for w in rest:
            inter = max(0, min(top[1], w[1]) - max(top[0], w[0]))
            hull = max(top[1], w[1]) - min(top[0], w[0])
            if (inter / hull if hull != 0 else 0) <= thresh:
                survivors.append(w)
        kept.append(list(top))
        rest = survivors
    if len(kept) < max_after and rest:
        kept.append(list(rest[0]))
    return kept


def cluster_top1(windows: List[List[float]],
                 distance: float = 2.0) -> List[List[float]]:
    """Cluster ``[s, e, score]`` windows by centre (step 1 above).

    Returns:
        list: ``[s, e, avg_score, total_score]`` per cluster, by descending
        total score (the official output has an extra unused 0 before the
        total).
    """
    by_center = {}
    for w in windows:
        by_center[(w[0] + w[1]) / 2] = [w[0], w[1], w[2]]
    centers = sorted(by_center)
    clusters = [[centers[0]]]
    for prev, cur in zip(centers, centers[1:]):
        if cur - prev < distance:
            clusters[-1].append(cur)
        else:
            clusters.append([cur])
    out = []
    for members in clusters:
        props = [by_center[c] for c in members]
        scores = [p[2] for p in props]
        best = props[scores.index(max(scores))]
        mid = len(props) // 2
        if len(props) % 2 == 0:
            middle = props[mid] if scores[mid] > scores[mid - 1] \
                else props[mid - 1]
        else:
            middle = props[mid]
        avg = [(a + b) / 2 for a, b in zip(middle, best)]
        out.append(avg + [sum(scores)])
    return sorted(out, key=lambda w: w[-1], reverse=True)


def ensemble_query(per_model: Sequence[List[List[float]]],
                   max_input: int = 4,
                   top1_input: int = 1,
                   distance: float = 2.0,
                   nms_thresh: float = 0.5,
                   topk: int = 5) -> List[List[float]]:
    """Fuse one query's ``[s, e, score]`` lists (one per model) into
    ``topk`` ``[s, e]`` windows."""
    top1 = [w for preds in per_model for w in preds[:top1_input]]
    pool = [list(w[:3]) for preds in per_model for w in preds[:max_input]]
    pool += [w[:3] for w in cluster_top1(top1, distance)]
    pool.sort(key=lambda w: w[2], reverse=True)
    kept = hull_nms(pool, nms_thresh, topk)
    kept += [kept[-1]] * (topk - len(kept))
    return [[w[0], w[1]] for w in kept]


def _key(item: dict, path: str) -> Key:
    try:
        return (str(item['clip_uid']), str(item['annotation_uid']),
                int(item['query_idx']))
    except KeyError as e:
        raise ValueError(f'{path}: a result lacks {e}: {item}') from None


def _index(results: List[dict], path: str) -> Dict[Key, dict]:
    index = {}
    for item in results:
        key = _key(item, path)
        if key in index:
            raise ValueError(f'{path}: query {key} appears twice')
        times = item.get('predicted_times')
        if not times or any(len(w) < 3 for w in times):
            raise ValueError(f'{path}: query {key} needs a non-empty '
                             f'predicted_times of [start, end, score] rows '
                             f'(got {times!r:.80})')
        index[key] = item
    return index


def ensemble_results(results: Sequence[List[dict]], paths: Sequence[str],
                     **kwargs) -> List[dict]:
    """Ensemble several ``results`` lists matched by query key; the output
    follows the order (and extra fields) of the first list."""
    if len(results) < 2:
        raise ValueError('the ensemble needs at least two prediction files')
    indices = [_index(r, p) for r, p in zip(results, paths)]
    for idx, path in zip(indices[1:], paths[1:]):
        missing = indices[0].keys() - idx.keys()
        extra = idx.keys() - indices[0].keys()
        if missing or extra:
            raise ValueError(
                f'{path} and {paths[0]} hold different queries: '
                f'{len(missing)} missing (e.g. {sorted(missing)[:3]}), '
                f'{len(extra)} extra (e.g. {sorted(extra)[:3]})')
    fused = []
    for item in results[0]:
        key = _key(item, paths[0])
        per_model = [idx[key]['predicted_times'] for idx in indices]
        fused.append({
            **item, 'predicted_times':
            ensemble_query(per_model, **kwargs)
        })
    return fused


def ensemble_files(paths: Sequence[str], out: str, **kwargs) -> List[dict]:
    """Read EvalAI files, ensemble them and write ``out`` atomically."""
    results = []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        if not isinstance(data, dict) or 'results' not in data:
            raise ValueError(f'{path}: expected an EvalAI dict with '
                             f'"results"')
        results.append(data['results'])
    fused = ensemble_results(results, paths, **kwargs)
    atomic_write_text(
        out,
        json.dumps(
            dict(
                version=EGO4D_NLQ_VERSION,
                challenge=EGO4D_NLQ_CHALLENGE,
                results=fused)))
    return fused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out')
    parser.add_argument('preds', nargs='+')
    parser.add_argument('--max-input', type=int, default=4)
    parser.add_argument('--top1-input', type=int, default=1)
    parser.add_argument('--distance', type=float, default=2.0)
    parser.add_argument('--nms-thresh', type=float, default=0.5)
    parser.add_argument('--topk', type=int, default=5)
    args = parser.parse_args()
    fused = ensemble_files(
        args.preds,
        args.out,
        max_input=args.max_input,
        top1_input=args.top1_input,
        distance=args.distance,
        nms_thresh=args.nms_thresh,
        topk=args.topk)
    print(f'wrote {args.out}: {len(fused)} queries from {len(args.preds)} '
          f'files')


if __name__ == '__main__':
    main()
