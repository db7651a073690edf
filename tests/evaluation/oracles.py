"""Test oracles: small loop implementations that follow the official
evaluators' algorithms literally (moment_detr standalone_eval, R²-Tuning
vtg_eval / YouTube / TVSum evaluate, EGO4D NLQ, HowTo100M retrieval,
CrossTask dp.pyx). Slow and unvectorized on purpose; used only in tests and
``tools/benchmark/eval_speed.py``, so they live beside the tests and are not
part of the installed package. Each name says what it computes; the
vectorized counterparts are in :mod:`vtg_plugins.evaluation.functional`."""
import copy
from collections import OrderedDict, defaultdict

import numpy as np
import torch


def pairwise_iou(spans1, spans2):
    """IoU of every span of ``spans1`` [N, 2] with every span of ``spans2``
    [M, 2] -> [N, M] (moment_detr ``compute_temporal_iou_batch_cross``)."""
    areas1 = spans1[:, 1] - spans1[:, 0]
    areas2 = spans2[:, 1] - spans2[:, 0]
    left = np.maximum(spans1[:, None, 0], spans2[None, :, 0])
    right = np.minimum(spans1[:, None, 1], spans2[None, :, 1])
    inter = np.clip(right - left, 0, None)
    union = areas1[:, None] + areas2[None, :] - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        return inter / union


def matched_iou(p, g):
    """IoU of row-aligned spans ``p`` / ``g`` [N, 2] over their *hull*
    (0 where the hull is empty), R²-Tuning style."""
    inter = np.maximum(
        0,
        np.minimum(p[:, 1], g[:, 1]) - np.maximum(p[:, 0], g[:, 0]))
    union = np.maximum(p[:, 1], g[:, 1]) - np.minimum(p[:, 0], g[:, 0])
    return np.divide(inter, union, out=np.zeros_like(inter), where=union != 0)


def voc_ap(precision, recall):
    """VOC-style AP: area under the monotone precision envelope."""
    mprecision = np.hstack([[0], precision, [0]])
    mrecall = np.hstack([[0], recall, [1]])
    for i in range(len(mprecision) - 1)[::-1]:
        mprecision[i] = max(mprecision[i], mprecision[i + 1])
    idx = np.where(mrecall[1::] != mrecall[0:-1])[0] + 1
    return np.sum((mrecall[idx] - mrecall[idx - 1]) * mprecision[idx])


def detection_ap(gts, preds, thds):
    """AP per IoU threshold of one query's predictions (greedy matching
    by score, each GT matched once). gts: [[st, ed]]; preds: [[st, ed,
    score]]."""
    """gts: list of [st, ed]; preds: list of [st, ed, score]."""
    ap = np.zeros(len(thds))
    if len(preds) == 0:
        return ap
    preds = sorted(preds, key=lambda x: -x[2])
    lock = np.ones((len(thds), len(gts))) * -1
    tp = np.zeros((len(thds), len(preds)))
    fp = np.zeros((len(thds), len(preds)))
    _gt = np.array(gts, dtype=float)
    for idx, p in enumerate(preds):
        tiou = pairwise_iou(np.array([p[:2]], dtype=float), _gt)[0]
        order = tiou.argsort()[::-1]
        for t, thd in enumerate(thds):
            for j in order:
                if tiou[j] < thd:
                    fp[t, idx] = 1
                    break
                if lock[t, j] >= 0:
                    continue
                tp[t, idx] = 1
                lock[t, j] = idx
                break
            if fp[t, idx] == 0 and tp[t, idx] == 0:
                fp[t, idx] = 1
    tpc = np.cumsum(tp, axis=1).astype(float)
    fpc = np.cumsum(fp, axis=1).astype(float)
    rec = tpc / float(len(gts))
    prec = tpc / (tpc + fpc)
    return np.array([voc_ap(prec[t], rec[t]) for t in range(len(thds))])


def round2(x):
    """``x`` rounded to 2 decimals through ``f'{x:.2f}'`` (as moment_detr)."""
    return float(f'{x:.2f}')


def moment_map(sub, gt, thds):
    """Moment retrieval mAP (%) per IoU threshold and their ``average``,
    over the top-10 windows."""
    gtq = {d['qid']: d['relevant_windows'] for d in gt}
    aps = [
        detection_ap(gtq[d['qid']], d['pred_relevant_windows'][:10], thds)
        for d in sub if len(d['pred_relevant_windows'][:10])
    ]
    ap_thds = np.array(aps).mean(0)
    res = dict(zip([str(t) for t in thds], ap_thds))
    res['average'] = np.mean(ap_thds)
    return {k: round2(100 * v) for k, v in res.items()}


def moment_recall_at_1(sub, gt, thds):
    """R1@IoU (%) per threshold and mIoU (%) of the top-1 window against
    its best-overlapping GT window."""
    pred = {d['qid']: d['pred_relevant_windows'][0][:2] for d in sub}
    gtw = {}
    for d in gt:
        ious = pairwise_iou(
            np.array([pred[d['qid']]], dtype=float),
            np.array(d['relevant_windows'], dtype=float))[0]
        gtw[d['qid']] = d['relevant_windows'][np.argmax(ious)]
    qids = list(pred)
    iou = matched_iou(
        np.array([pred[k] for k in qids], dtype=float),
        np.array([gtw[k] for k in qids], dtype=float))
    return {str(t): round2(np.mean(iou >= t) * 100) for t in thds}, \
        round2(np.mean(iou) * 100)


def moment_recall_at_5(sub, gt, thds):
    """R5@IoU (%) per threshold: the best (prediction, GT) pair among the
    top-5 windows (R²-Tuning ``vtg_eval``)."""
    pred = {
        d['qid']: [x[:2] for x in d['pred_relevant_windows'][:5]]
        for d in sub
    }
    pw, gw = {}, {}
    for d in gt:
        ious = pairwise_iou(
            np.array(pred[d['qid']], dtype=float),
            np.array(d['relevant_windows'], dtype=float))
        ious[np.isnan(ious)] = 0
        pi, gi = np.where(ious == np.max(ious))
        pw[d['qid']] = pred[d['qid']][pi[0]]
        gw[d['qid']] = d['relevant_windows'][gi[0]]
    qids = list(pred)
    iou = matched_iou(
        np.array([pw[k] for k in qids], dtype=float),
        np.array([gw[k] for k in qids], dtype=float))
    return {str(t): round2(np.mean(iou >= t) * 100) for t in thds}


def windows_in_length_range(sub, gt, lo, hi, r2):
    """Submission and GT restricted to GT windows of length in (lo, hi]
    (the short / middle / long buckets)."""
    if lo == 0 and hi == (float('inf') if r2 else 150):
        return sub, gt
    gin, keep = [], set()
    for d in gt:
        w = [x for x in d['relevant_windows'] if lo < x[1] - x[0] <= hi]
        if w:
            d = copy.deepcopy(d)
            d['relevant_windows'] = w
            gin.append(d)
            keep.add(d['qid'])
    sin = [d for d in sub if d['qid'] in keep]
    if r2 and sin == gin == []:
        return sub, gt
    return sin, gin


def highlight_ap(y_true, y_pred):
    """Average precision of one annotator's binary labels (moment_detr
    ``get_ap``, sklearn's precision_recall_curve written out)."""
    if len(set(y_true)) == 1:
        return 0 if y_true[0] == 0 else 1
    desc = np.argsort(y_pred, kind='mergesort')[::-1]
    ys, yt = y_pred[desc], y_true[desc]
    distinct = np.where(np.diff(ys))[0]
    thr_idx = np.r_[distinct, yt.size - 1]
    tps = np.cumsum(yt)[thr_idx]
    fps = 1 + thr_idx - tps
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    last = tps.searchsorted(tps[-1])
    sl = slice(last, None, -1)
    precision = np.r_[precision[sl], 1]
    recall = np.r_[recall[sl], 0].astype(np.float32)
    for i in range(1, len(precision)):
        precision[i] = max(precision[i - 1], precision[i])
    return np.mean(precision[np.where(np.diff(recall))])


def highlight_metrics(sub, gt):
    """HL-min-{Fair,Good,VeryGood}-{mAP,Hit1} (%) of the saliency scores."""
    gts = {}
    for d in gt:
        s = np.zeros((int(d['duration'] / 2), 3))
        s[np.array(d['relevant_clip_ids'])] = np.array(d['saliency_scores'])
        gts[d['qid']] = s
    out = {}
    for name, lvl in (('Fair', 2), ('Good', 3), ('VeryGood', 4)):
        hit = np.zeros((len(sub), 3))
        aps = np.zeros((len(sub), 3))
        for i, d in enumerate(sub):
            b = (gts[d['qid']] >= lvl).astype(float)
            pred = np.array(d['pred_saliency_scores'])
            k = np.argmax(pred)
            if k < len(b):
                hit[i] = b[k]
            if len(b) < len(pred):
                pred = pred[:len(b)]
            elif len(b) > len(pred):
                p2 = np.zeros(len(b))
                p2[:len(pred)] = pred
                pred = p2
            for w in range(3):
                aps[i, w] = highlight_ap(b[:, w], pred)
        out[f'HL-min-{name}-mAP'] = round2(100 * np.mean(aps))
        out[f'HL-min-{name}-Hit1'] = round2(100 * np.mean(np.max(hit, 1)))
    return out


def qvhighlights_metrics(sub, gt, r2=False):
    """QVHighlights metrics of moment_detr ``eval_submission`` (``brief``
    keys; r2=False) or R²-Tuning ``vtg_eval`` (r2=True)."""
    ranges = [[0, 10], [10, 30], [30, float('inf') if r2 else 150],
              [0, float('inf') if r2 else 150]]
    thd_map = [float(f'{e:.2f}') for e in np.linspace(0.5, 0.95, 10)]
    thd_r = [float(f'{e:.2f}') for e in np.linspace(0.3, 0.95, 14)] \
        if r2 else thd_map
    mr = {}
    for (lo, hi), name in zip(ranges, ['short', 'middle', 'long', 'full']):
        s, g = windows_in_length_range(sub, gt, lo, hi, r2)
        r1, miou = moment_recall_at_1(s, g, thd_r)
        mr[name] = {
            'MR-mAP': moment_map(s, g, thd_map),
            'MR-R1': r1,
            'MR-mIoU': miou
        }
        if r2:
            mr[name]['MR-R5'] = moment_recall_at_5(s, g, thd_r)
    brief = {
        'MR-full-mAP': mr['full']['MR-mAP']['average'],
        'MR-full-mAP@0.5': mr['full']['MR-mAP']['0.5'],
        'MR-full-mAP@0.75': mr['full']['MR-mAP']['0.75'],
        'MR-short-mAP': mr['short']['MR-mAP']['average'],
        'MR-middle-mAP': mr['middle']['MR-mAP']['average'],
        'MR-long-mAP': mr['long']['MR-mAP']['average'],
        'MR-full-R1@0.5': mr['full']['MR-R1']['0.5'],
        'MR-full-R1@0.7': mr['full']['MR-R1']['0.7'],
    }
    if r2:
        for n in ('short', 'middle', 'long', 'full'):
            brief[f'MR-{n}-mIoU'] = mr[n]['MR-mIoU']
        for t in ('0.3', '0.5', '0.7'):
            brief[f'MR-full-R1@{t}'] = mr['full']['MR-R1'][t]
            brief[f'MR-full-R5@{t}'] = mr['full']['MR-R5'][t]
    out = OrderedDict(sorted(brief.items()))
    if 'pred_saliency_scores' in sub[0]:
        hl = highlight_metrics(sub, gt)
        if r2:
            for k in ('HL-min-VeryGood-mAP', 'HL-min-VeryGood-Hit1'):
                hl[k] = hl.pop(k)
        out.update(hl)
    return out


def trapezoid_ap(label):
    """AP of a ranked 0/1 label list by the trapezoid rule (R²-Tuning)."""
    num_gt = sum(label)
    if num_gt == 0:
        return 0
    hits = ap = rec = 0
    prc = 1
    for i, gt in enumerate(label):
        hits += gt
        _rec = hits / num_gt
        _prc = hits / (i + 1)
        ap += (_rec - rec) * (prc + _prc) / 2
        rec, prc = _rec, _prc
    return ap


def youtube_highlights_map(preds, matches):
    """YouTube Highlights mAP: trapezoid AP of each video's clips ranked by
    score (``match > 0`` positive), averaged, rounded to 5 digits."""
    col = []
    for p, m in zip(preds, matches):
        inds = torch.argsort(
            torch.tensor(p, dtype=torch.float32), descending=True)
        label = torch.Tensor([1 if s > 0 else 0 for s in m])[inds].tolist()
        col.append(trapezoid_ap(label))
    return round(sum(col) / len(col), 5)


def tvsum_topk_map(preds, annos, k=5):
    """TVSum top-``k`` mAP: per annotator, clips above the median score are
    positive; trapezoid AP of the top-``k`` ranked clips, averaged over
    videos then annotators, rounded to 5 digits."""
    col = []
    for i in range(len(annos[0][0])):
        vap = []
        for p, a in zip(preds, annos):
            inds = torch.argsort(
                torch.tensor(p, dtype=torch.float32), descending=True)
            label = torch.Tensor(a)[:, i]
            label = torch.where(label > label.median(), 1.0, .0)
            vap.append(trapezoid_ap(label[inds].tolist()[:k]))
        col.append(sum(vap) / len(vap))
    return round(sum(col) / len(col), 5)


def ego4d_nlq_recalls(preds, gt_json, thresholds=(0.3, 0.5),
                      topk=(1, 3, 5)):
    """Ego4D NLQ Recall@k at each IoU threshold ``[len(thresholds),
    len(topk)]`` and the mean IoU of the top-3 overlaps."""
    gtd = {}
    for v in gt_json['videos']:
        for c in v['clips']:
            for a in c['annotations']:
                gtd[(c['clip_uid'], a['annotation_uid'])] = a
    results = [[[] for _ in topk] for _ in thresholds]
    avg = []
    for p in preds:
        q = gtd[(p['clip_uid'],
                 p['annotation_uid'])]['language_queries'][p['query_idx']]
        pr = np.array(p['predicted_times'])
        g = np.array([[q['clip_start_sec'], q['clip_end_sec']]])
        inter = np.maximum(
            0.0,
            np.minimum(pr[:, 1, None], g[None, :, 1]) -
            np.maximum(pr[:, 0, None], g[None, :, 0]))
        union = np.maximum(
            0.0,
            np.maximum(pr[:, 1, None], g[None, :, 1]) -
            np.minimum(pr[:, 0, None], g[None, :, 0]))
        with np.errstate(invalid='ignore', divide='ignore'):
            ov = 1.0 * inter / union
        avg.append(np.mean(np.sort(ov[0])[-3:]))
        for tt, t in enumerate(thresholds):
            for rr, k in enumerate(topk):
                results[tt][rr].append((ov > t)[:k].any())
    return np.array(results).mean(axis=-1), np.mean(avg)


def retrieval_recalls_and_ranks(x):
    """Text-to-video retrieval of a similarity matrix (GT on the diagonal):
    ``(R@1, R@5, R@10, R@50, median rank, mean rank)``."""
    sx = np.sort(-x, axis=1)
    d = np.diag(-x)[:, np.newaxis]
    ind = np.where(sx - d == 0)[1]
    return (float(np.sum(ind == 0)) / len(ind), float(np.sum(ind < 5)) /
            len(ind), float(np.sum(ind < 10)) / len(ind),
            float(np.sum(ind < 50)) / len(ind), np.median(ind) + 1,
            np.mean(ind) + 1)


def crosstask_dp_assignment(C, exactly_one=True, bg_cost=0):
    """CrossTask step assignment ``[T, K]`` of a cost matrix ``C`` by the
    official dynamic program (dp.pyx, line by line: ``opt_value`` persists
    across states)."""
    C = np.asarray(C, dtype=np.float32)
    T, K = C.shape
    Ke = 2 * K + 1
    L = -np.ones([T + 1, Ke])
    P = -np.ones([T + 1, Ke], dtype=np.int32)
    L[0, 0] = 0
    P[0, 0] = 0
    step = [0 if k % 2 == 0 else (k + 1) // 2 for k in range(Ke)]
    opt_value = 0.0
    for t in range(1, T + 1):
        Lt, Pt = L[t - 1], P[t - 1]
        for k in range(Ke):
            s = step[k]
            opt = -1
            j = k
            if (opt == -1 or opt_value > Lt[j]) and Pt[j] != -1 and \
                    (s == 0 or not exactly_one):
                opt, opt_value = j, Lt[j]
            j = k - 1
            if j >= 0 and (opt == -1 or opt_value > Lt[j]) and Pt[j] != -1:
                opt, opt_value = j, Lt[j]
            if s != 0:
                j = k - 2
                if j >= 0 and (opt == -1 or opt_value > Lt[j]) and \
                        Pt[j] != -1:
                    opt, opt_value = j, Lt[j]
            L[t, k] = opt_value + (float(C[t - 1, s - 1]) if s else bg_cost)
            P[t, k] = opt
    Y = np.zeros((T, K), dtype=np.float32)
    k = Ke - 1 if (L[T, Ke - 1] < L[T, Ke - 2] or P[T, Ke - 2] == -1) \
        else Ke - 2
    for t in range(T, 0, -1):
        s = step[k]
        if s > 0:
            Y[t - 1, s - 1] = 1
        k = P[t, k]
    return Y


def crosstask_recalls(Y_true, Y_pred):
    """CrossTask step recall per task: matched steps / annotated steps."""
    match = defaultdict(int)
    total = defaultdict(int)
    for task, ys in Y_true.items():
        for vid in set(Y_pred[task]).intersection(ys):
            total[task] += (ys[vid].sum(axis=0) > 0).sum()
            match[task] += (ys[vid] * Y_pred[task][vid]).sum()
    return {t: match[t] / total[t] for t in Y_true}


def random_qvhighlights(n_queries, n_windows=10, seed=0, quantize=None):
    """Random QVHighlights-style ``(submission, ground_truth)``.

    Durations 100..150 s (50..75 clips), 1-3 GT windows on the 2 s grid with
    0-4 saliency scores from 3 annotators, ``n_windows`` predicted windows
    in random (not score-sorted) order, 75 saliency scores. ``quantize``
    rounds predicted times/scores to create ties.
    """
    rng = np.random.default_rng(seed)
    sub, gt = [], []
    for q in range(n_queries):
        dur = float(2 * rng.integers(50, 76))
        n_clip = int(dur / 2)
        wins, ids = [], []
        for _ in range(rng.integers(1, 4)):
            a = int(rng.integers(0, n_clip - 1))
            b = int(rng.integers(a + 1, min(n_clip, a + 40) + 1))
            wins.append([2 * a, 2 * b])
            ids.extend(range(a, b))
        ids = sorted(set(ids))
        gt.append(
            dict(
                qid=q,
                vid=f'v{q}',
                duration=dur,
                relevant_windows=wins,
                relevant_clip_ids=ids,
                saliency_scores=rng.integers(0, 5, (len(ids), 3)).tolist()))
        st = rng.uniform(-5, dur, n_windows)
        ed = st + rng.uniform(0, 60, n_windows)
        sc = rng.random(n_windows)
        sal = rng.random(75)
        if quantize:
            st, ed = np.round(st / quantize) * quantize, \
                np.round(ed / quantize) * quantize
            sc, sal = np.round(sc, 1), np.round(sal, 1)
        sub.append(
            dict(
                qid=q,
                vid=f'v{q}',
                pred_relevant_windows=np.stack([st, ed, sc], 1).tolist(),
                pred_saliency_scores=sal.tolist()))
    return sub, gt


def random_ego4d_nlq(n_queries, k=5, seed=0, quantize=None):
    """Random Ego4D NLQ ``(results list, nlq_val-style GT dict)``."""
    rng = np.random.default_rng(seed)
    clips, results = [], []
    per_ann = 4
    for c in range((n_queries + per_ann - 1) // per_ann):
        queries = []
        for _ in range(per_ann):
            s = float(rng.uniform(0, 400))
            queries.append(
                dict(
                    clip_start_sec=s,
                    clip_end_sec=s + float(rng.uniform(0, 30)),
                    query='q'))
        # as many GT queries as results: the last clip may have fewer
        queries = queries[:n_queries - c * per_ann]
        clips.append(
            dict(
                clip_uid=f'c{c}',
                annotations=[
                    dict(annotation_uid=f'a{c}', language_queries=queries)
                ]))
        for i in range(per_ann):
            if len(results) == n_queries:
                break
            st = rng.uniform(0, 400, k)
            ed = st + rng.uniform(0, 40, k)
            if quantize:
                st, ed = np.round(st / quantize) * quantize, \
                    np.round(ed / quantize) * quantize
            results.append(
                dict(
                    clip_uid=f'c{c}',
                    annotation_uid=f'a{c}',
                    query_idx=i,
                    predicted_times=np.stack([st, ed], 1).tolist()))
    return results, dict(videos=[dict(video_uid='v', clips=clips)])
