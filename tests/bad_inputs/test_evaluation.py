"""Bad inputs of the evaluation entry points: ``tools/evaluate.py`` (the
offline scorer) and the Runner metrics, which share the functional layer's
input checks. Each test feeds one bad input and asserts the error type and
that the message names the file, the record and what is wrong."""
import importlib.util
import json
import re
from pathlib import Path

import pytest
from mmengine.evaluator import Evaluator

import vtg_plugins.evaluation.metrics  # noqa: F401  (registers the metrics)
from vtg_plugins.evaluation.functional import EvaluationError
from vtg_plugins.registry import METRICS

REPO = Path(__file__).resolve().parents[2]
NAN = float('nan')


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location(
        'vtg_evaluate_tool_bad_inputs', REPO / 'tools' / 'evaluate.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _jsonl(path: Path, records) -> Path:
    path.write_text(''.join(json.dumps(r) + '\n' for r in records))
    return path


def _json(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc))
    return path


def _raises(tool, argv, *parts, error=EvaluationError):
    """``evaluate`` refuses ``argv`` with a message holding every part (in
    this order); ``main`` prints it and exits 1."""
    argv = [str(a) for a in argv]
    with pytest.raises(error) as info:
        tool.evaluate(tool.parse_args(argv))
    msg = str(info.value)
    assert re.search('.*'.join(map(re.escape, parts)), msg), msg
    assert tool.main(argv) == 1
    return msg


# --- QVHighlights / moment retrieval ---------------------------------------

def _qvh_gt(qids=(1, 2)):
    return [
        dict(qid=q, duration=30, relevant_windows=[[4 * i, 4 * i + 4]],
             relevant_clip_ids=[2 * i, 2 * i + 1],
             saliency_scores=[[4, 4, 4], [2, 3, 4]])
        for i, q in enumerate(qids)
    ]


def _qvh_pred(qid, windows, saliency=(.9, .8, .1)):
    rec = dict(qid=qid, pred_relevant_windows=windows)
    if saliency is not None:
        rec['pred_saliency_scores'] = list(saliency)
    return rec


def _qvh(tmp_path, preds, gt=None, task='qvhighlights'):
    pred = _jsonl(tmp_path / 'sub.jsonl', preds)
    gtf = _jsonl(tmp_path / 'gt.jsonl', gt or _qvh_gt())
    return [task, '--pred', pred, '--gt', gtf], pred, gtf


@pytest.mark.parametrize('task', ['qvhighlights', 'moment_retrieval'])
@pytest.mark.parametrize('window,column', [([NAN, 4, .9], 'start'),
                                           ([0, float('inf'), .9], 'end'),
                                           ([0, 4, NAN], 'score'),
                                           ([None, 4, .9], 'start')])
def test_non_finite_prediction_window(tool, tmp_path, task, window, column):
    preds = [_qvh_pred(1, [[0, 4, .95], window]),
             _qvh_pred(2, [[4, 8, .9]])]
    argv, pred, _ = _qvh(tmp_path, preds, task=task)
    _raises(tool, argv, str(pred), 'qid 1 pred_relevant_windows',
            f'window 1', f'non-finite {column}')


def test_all_nan_windows_are_not_scored(tool, tmp_path):
    # all-NaN windows used to score MR-full-mAP 44-100
    preds = [_qvh_pred(q, [[NAN, NAN, NAN]] * 3) for q in (1, 2)]
    argv, pred, _ = _qvh(tmp_path, preds)
    _raises(tool, argv, str(pred), 'qid 1', 'non-finite start')
    # on_invalid='miss' scores them as misses, never as hits
    res = tool.evaluate(
        tool.parse_args([str(a) for a in argv] + ['--on-invalid', 'miss']))
    assert res['MR-full-mAP'] == 0.0 and res['MR-full-R1@0.5'] == 0.0


def test_null_pred_relevant_windows(tool, tmp_path):
    preds = [_qvh_pred(1, None), _qvh_pred(2, [[4, 8, .9]])]
    argv, pred, _ = _qvh(tmp_path, preds)
    _raises(tool, argv, str(pred), 'qid 1 pred_relevant_windows',
            'expected a list of windows, got null')


@pytest.mark.parametrize('first_has', [False, True])
def test_saliency_in_some_records_only(tool, tmp_path, first_has):
    with_sal = _qvh_pred(1, [[0, 4, .9]])
    without = _qvh_pred(2, [[4, 8, .9]], saliency=None)
    preds = [with_sal, without] if first_has else [without, with_sal]
    argv, pred, _ = _qvh(tmp_path, preds)
    _raises(tool, argv, str(pred), '1 of 2 records have no',
            'pred_saliency_scores', 'qid(s) [2]')


def test_windows_in_some_records_only(tool, tmp_path):
    preds = [dict(qid=1, pred_saliency_scores=[.9, .1]),
             _qvh_pred(2, [[4, 8, .9]], saliency=[.1, .9])]
    argv, pred, _ = _qvh(tmp_path, preds)
    _raises(tool, argv, str(pred), '1 of 2 records have no',
            'pred_relevant_windows', 'qid(s) [1]')


def test_no_saliency_at_all_is_moment_retrieval_only(tool, tmp_path,
                                                     capsys):
    preds = [_qvh_pred(q, [[4 * i, 4 * i + 4, .9]], saliency=None)
             for i, q in enumerate((1, 2))]
    argv, _, _ = _qvh(tmp_path, preds)
    assert tool.main([str(a) for a in argv]) == 0
    out, err = capsys.readouterr()
    res = json.loads(out)
    assert res['MR-full-R1@0.7'] == 100.0
    assert not any(k.startswith('HL-') for k in res)
    assert 'no record of the submission has pred_saliency_scores' in err
    assert 'moment retrieval metrics only' in err


@pytest.mark.parametrize('scores,what', [([.9, NAN], '1 NaN/inf'),
                                         (None, 'got null'),
                                         ([[.9], [.1]], 'flat list')])
def test_bad_pred_saliency_scores(tool, tmp_path, scores, what):
    preds = [_qvh_pred(1, [[0, 4, .9]]),
             dict(_qvh_pred(2, [[4, 8, .9]]), pred_saliency_scores=scores)]
    argv, pred, _ = _qvh(tmp_path, preds)
    _raises(tool, argv, str(pred), 'qid 2 pred_saliency_scores', what)


def test_non_utf8_prediction_file(tool, tmp_path):
    argv, pred, _ = _qvh(tmp_path, [_qvh_pred(1, [[0, 4, .9]])])
    pred.write_bytes(pred.read_bytes() + b'{"qid": 2, "q": "\xff"}\n')
    _raises(tool, argv, f'{pred}:2', 'not UTF-8', error=ValueError)


def test_non_utf8_ground_truth_file(tool, tmp_path):
    argv, _, gtf = _qvh(tmp_path, [_qvh_pred(1, [[0, 4, .9]])])
    gtf.write_bytes(b'\xfe' + gtf.read_bytes())
    _raises(tool, argv, f'{gtf}:1', 'not UTF-8', error=ValueError)


@pytest.mark.parametrize('task', ['qvhighlights', 'moment_retrieval'])
@pytest.mark.parametrize('duration', [NAN, float('inf'), -2, 0, '30'])
def test_ground_truth_bad_duration(tool, tmp_path, task, duration):
    gt = _qvh_gt()
    gt[1]['duration'] = duration
    preds = [_qvh_pred(q, [[0, 4, .9]]) for q in (1, 2)]
    argv, _, gtf = _qvh(tmp_path, preds, gt, task)
    _raises(tool, argv, str(gtf), 'qid 2', 'duration must be a finite')


def test_ground_truth_nan_duration_normalized_saliency(tool, tmp_path):
    # the normalized annotation (saliency per clip) needs the duration to
    # build relevant_clip_ids: refused before it is used
    gt = [dict(qid=1, duration=NAN, windows=[[0, 4]], saliency=[[4, 4, 4]])]
    argv, _, gtf = _qvh(tmp_path, [_qvh_pred(1, [[0, 4, .9]])], gt)
    _raises(tool, argv, str(gtf), 'qid 1', 'duration must be a finite')


def test_ground_truth_nan_window(tool, tmp_path):
    gt = _qvh_gt()
    gt[0]['relevant_windows'] = [[0, NAN]]
    argv, _, gtf = _qvh(tmp_path, [_qvh_pred(q, [[0, 4, .9]])
                                   for q in (1, 2)], gt)
    _raises(tool, argv, str(gtf), 'qid 1 relevant_windows',
            'non-finite end')


def test_qid_string_against_integer(tool, tmp_path):
    preds = [_qvh_pred('1', [[0, 4, .9]]), _qvh_pred(2, [[4, 8, .9]])]
    argv, pred, gtf = _qvh(tmp_path, preds)
    _raises(tool, argv, 'differ in type', "'1' (str)", '1 (int)',
            f'--pred {pred}', f'--gt {gtf}')


def test_ground_truth_queries_without_prediction(tool, tmp_path, capsys):
    argv, pred, _ = _qvh(tmp_path, [_qvh_pred(1, [[0, 4, .9]])])
    capsys.readouterr()
    _raises(tool, argv, str(pred), '1 of 2 ground-truth id(s) have no '
            'prediction', '[2]', '--allow-missing')
    assert 'Evaluated: 1 / 2 queries' in capsys.readouterr().err
    # --allow-missing: moment_detr's match_number=False, the shared qids
    assert tool.main([str(a) for a in argv] + ['--allow-missing']) == 0
    out, err = capsys.readouterr()
    assert 'Evaluated: 1 / 2 queries' in err
    argv_one, _, _ = _qvh(tmp_path, [_qvh_pred(1, [[0, 4, .9]])],
                          _qvh_gt((1, )))
    assert tool.main([str(a) for a in argv_one]) == 0
    assert json.loads(out) == json.loads(capsys.readouterr().out)


def test_prediction_for_a_query_not_in_the_ground_truth(tool, tmp_path):
    preds = [_qvh_pred(q, [[0, 4, .9]]) for q in (1, 2, 7)]
    argv, pred, _ = _qvh(tmp_path, preds)
    _raises(tool, [*argv, '--allow-missing'], str(pred),
            '1 predicted id(s) are not in the ground truth', '[7]')


# --- Ego4D NLQ ---------------------------------------------------------------

def _nlq_gt(n=4):
    queries = [dict(clip_start_sec=10. * i, clip_end_sec=10. * i + 5,
                    query=f'where is object {i}?') for i in range(n)]
    return dict(version='1', videos=[dict(video_uid='v', clips=[dict(
        clip_uid='c', annotations=[dict(annotation_uid='a',
                                        language_queries=queries)])])])


def _nlq_rec(idx, times):
    return dict(clip_uid='c', annotation_uid='a', query_idx=idx,
                predicted_times=times)


def _nlq(tmp_path, results, gt=None):
    pred = _json(tmp_path / 'sub.json', dict(
        version='1.0', challenge='ego4d_nlq_challenge', results=results))
    gtf = _json(tmp_path / 'nlq_val.json', _nlq_gt() if gt is None else gt)
    return ['ego4d_nlq', '--pred', pred, '--gt', gtf], pred, gtf


def _all_queries(times_of):
    return [_nlq_rec(i, times_of(i)) for i in range(4)]


@pytest.mark.parametrize('window,column', [([NAN, 5], 'start'),
                                           ([0, float('-inf')], 'end'),
                                           ([None, 5], 'start')])
def test_nlq_non_finite_predicted_times(tool, tmp_path, window, column):
    results = _all_queries(lambda i: [[10. * i, 10. * i + 5]])
    results[2]['predicted_times'] = [[20, 25], window]
    argv, pred, _ = _nlq(tmp_path, results)
    _raises(tool, argv, str(pred), "query_idx=2 predicted_times",
            'window 1', f'non-finite {column}')


def test_nlq_null_predicted_times(tool, tmp_path):
    results = _all_queries(lambda i: [[10. * i, 10. * i + 5]])
    results[3]['predicted_times'] = None
    argv, pred, _ = _nlq(tmp_path, results)
    _raises(tool, argv, str(pred), 'query_idx=3 predicted_times',
            'got null')


def test_nlq_submission_covering_part_of_the_queries(tool, tmp_path,
                                                     capsys):
    # 1 of 4 queries, predicted right: the official evaluator gives 100
    argv, pred, _ = _nlq(tmp_path, [_nlq_rec(0, [[0, 5]])])
    capsys.readouterr()
    _raises(tool, argv, str(pred), '3 of 4 GT queries have no prediction',
            "'c/a/1', 'c/a/2', 'c/a/3'", '--allow-missing')
    assert 'Evaluated: 1 / 4 instances' in capsys.readouterr().err
    assert tool.main([str(a) for a in argv] + ['--allow-missing']) == 0
    out, err = capsys.readouterr()
    assert 'Evaluated: 1 / 4 instances' in err
    assert json.loads(out)['R@1_IoU0.5'] == 100.0  # the official number


def test_nlq_ground_truth_is_a_list(tool, tmp_path):
    argv, _, gtf = _nlq(tmp_path, [_nlq_rec(0, [[0, 5]])], [_nlq_gt()])
    _raises(tool, argv, str(gtf), 'expected the official Ego4D NLQ '
            'annotation', 'got a list')


def test_nlq_submission_given_as_ground_truth(tool, tmp_path):
    argv, pred, _ = _nlq(tmp_path, [_nlq_rec(0, [[0, 5]])])
    argv[-1] = pred
    _raises(tool, argv, str(pred), 'expected the official Ego4D NLQ',
            "keys ['challenge', 'results', 'version']")


@pytest.mark.parametrize('key,where', [
    ('annotation_uid', 'videos[0].clips[0].annotations[0]: missing'),
    ('clip_end_sec', 'annotations[0].language_queries[1]: missing'),
])
def test_nlq_ground_truth_missing_key(tool, tmp_path, key, where):
    gt = _nlq_gt()
    ann = gt['videos'][0]['clips'][0]['annotations'][0]
    (ann if key in ann else ann['language_queries'][1]).pop(key)
    argv, _, gtf = _nlq(tmp_path, [_nlq_rec(0, [[0, 5]])], gt)
    _raises(tool, argv, str(gtf), where, key)


def test_nlq_ground_truth_nan_window(tool, tmp_path):
    gt = _nlq_gt()
    gt['videos'][0]['clips'][0]['annotations'][0]['language_queries'][1][
        'clip_start_sec'] = NAN
    argv, _, gtf = _nlq(tmp_path,
                        _all_queries(lambda i: [[10. * i, 10. * i + 5]]), gt)
    _raises(tool, argv, str(gtf), 'query_idx=1', 'GT window',
            'two finite numbers')


def test_nlq_query_idx_as_string(tool, tmp_path):
    argv, pred, _ = _nlq(tmp_path, [_nlq_rec('0', [[0, 5]])])
    _raises(tool, argv, str(pred), "query_idx='0'",
            'query_idx must be an integer, got str')


@pytest.mark.parametrize('field,value,what', [
    ('predicted_times', ..., 'no predicted_times'),
    ('clip_uid', ['c'], 'clip_uid and annotation_uid must be strings'),
    ('annotation_uid', ..., 'needs clip_uid and annotation_uid'),
])
def test_nlq_record_missing_or_malformed_field(tool, tmp_path, field, value,
                                               what):
    rec = _nlq_rec(0, [[0, 5]])
    if value is ...:
        del rec[field]
    else:
        rec[field] = value
    argv, pred, _ = _nlq(tmp_path, [rec])
    _raises(tool, argv, str(pred), 'query_idx=0', what)


def test_qid_that_is_a_list(tool, tmp_path):
    argv, pred, _ = _qvh(tmp_path, [_qvh_pred([1], [[0, 4, .9]])])
    _raises(tool, argv, str(pred), 'submission record #0',
            'qid must be a number or a string, got list')


def test_nlq_result_not_an_object(tool, tmp_path):
    argv, pred, _ = _nlq(tmp_path, [[0, 5]])
    _raises(tool, argv, str(pred), 'results[0]', 'expected a json object')


def test_nlq_non_utf8_submission(tool, tmp_path):
    argv, pred, _ = _nlq(tmp_path, [_nlq_rec(0, [[0, 5]])])
    pred.write_bytes(pred.read_bytes().replace(b'"c"', b'"\xe9"', 1))
    _raises(tool, argv, str(pred), 'not UTF-8', error=ValueError)


# --- YouTube Highlights / TVSum ---------------------------------------------

def _saliency(tmp_path, task, pred, anno=None):
    anno = anno or {'a': dict(match=[1, -1, 1], anno=[[1], [2], [2]]),
                    'b': dict(match=[-1, 1], anno=[[2], [1]])}
    p = _json(tmp_path / 'pred.json', pred)
    g = _json(tmp_path / 'anno.json', anno)
    return [task, '--pred', p, '--gt', g], p, g


@pytest.mark.parametrize('task', ['youtube', 'tvsum'])
@pytest.mark.parametrize('scores,what', [([.9, NAN, .5], '1 NaN/inf'),
                                         (None, 'got null')])
def test_bad_saliency_prediction(tool, tmp_path, task, scores, what):
    argv, p, _ = _saliency(tmp_path, task, {'a': scores, 'b': [.9, .1]})
    _raises(tool, argv, str(p), "video 'a' saliency", what)


@pytest.mark.parametrize('task,field,bad', [
    ('youtube', 'match', [1, NAN, 1]),
    ('tvsum', 'anno', [[1], [NAN], [2]]),
])
def test_non_finite_saliency_ground_truth(tool, tmp_path, task, field, bad):
    anno = {'a': dict(match=[1, -1, 1], anno=[[1], [2], [2]]),
            'b': dict(match=[-1, 1], anno=[[2], [1]])}
    anno['a'][field] = bad
    argv, _, g = _saliency(tmp_path, task, {'a': [.9, .1, .5],
                                            'b': [.9, .1]}, anno)
    _raises(tool, argv, str(g), f"video 'a' {field}", 'NaN/inf')


def test_saliency_prediction_not_keyed_by_video(tool, tmp_path):
    argv, p, _ = _saliency(tmp_path, 'youtube', [[.9, .1]])
    _raises(tool, argv, str(p), 'expected a json object keyed by video id',
            error=ValueError)


# --- Runner metrics (the same checks, through MMEngine's Evaluator) ---------

def _evaluate(cfg, samples):
    ev = Evaluator(METRICS.build(cfg))
    ev.process(samples)
    return ev.evaluate(len(samples))


def test_runner_metric_nan_prediction_window():
    samples = [dict(qid=q, duration=30, gt_windows=[[0, 4]],
                    pred_relevant_windows=[[0, 4, .9]]) for q in (1, 2)]
    samples[1]['pred_relevant_windows'] = [[NAN, 4, .9]]
    with pytest.raises(EvaluationError,
                       match=r'qid 2 pred_relevant_windows: window 0 .*'
                       r'non-finite start'):
        _evaluate(dict(type='MomentRetrievalMetric'), samples)


def test_runner_nlq_metric_samples_cover_part_of_ann_file(tmp_path):
    ann = _json(tmp_path / 'nlq_val.json', _nlq_gt())
    samples = [dict(_nlq_rec(0, [[0, 5]]), pred_windows=[[0, 5, .9]])]
    with pytest.raises(EvaluationError,
                       match=r"3 of 4 GT queries .*'c/a/1'.*allow_missing"):
        _evaluate(dict(type='Ego4DNLQMetric', ann_file=str(ann)), samples)
    res = _evaluate(
        dict(type='Ego4DNLQMetric', ann_file=str(ann), allow_missing=True),
        samples)
    assert res['ego4d_nlq/mean_R1'] == 100.0
