import json

import pytest

from ._tools import load_tool

ens = load_tool('ensemble')

M1 = [[10, 20, 0.9], [30, 40, 0.5]]
M2 = [[11, 21, 0.8], [50, 60, 0.4]]
M3 = [[40, 50, 0.7], [10, 19, 0.3]]
FUSED = [[10, 20], [40, 50], [30, 40], [50, 60], [50, 60]]


def test_ensemble_query_by_hand():
    # top-1 centres 15, 16 (one cluster: best = middle = [10, 20, .9]) and
    # 45; the pool sorted by score goes through hull NMS at 0.5: [11, 21]
    # (9/11) and [10, 19] (9/10) fall to [10, 20]; 4 windows survive and
    # the last is repeated
    assert ens.ensemble_query([M1, M2, M3]) == FUSED


def test_cluster_even_count_takes_higher_middle():
    windows = [[0, 2, 0.1], [1, 3, 0.3], [2, 4, 0.2], [3, 5, 0.9]]
    # centres 1, 2, 3, 4 in one cluster; middles score .3 (index 1) and .2
    # -> [1, 3]; best [3, 5, .9]; total 1.5
    (avg, ) = ens.cluster_top1(windows)
    assert avg == pytest.approx([2.0, 4.0, 0.6, 1.5])
    two = ens.cluster_top1([[0, 2, 0.5], [10, 12, 0.7]])
    assert [w[-1] for w in two] == [0.7, 0.5]


def test_hull_nms_uses_hull_and_strict_threshold():
    # inter 5, hull 10 -> 0.5, not > 0.5: both kept
    assert ens.hull_nms([[0, 5, 1.0], [0, 10, 0.5]], 0.5, 5) == \
        [[0, 5, 1.0], [0, 10, 0.5]]
    assert ens.hull_nms([[0, 5, 1.0], [0, 9, 0.5]], 0.5, 5) == [[0, 5, 1.0]]


def _write(path, items):
    path.write_text(json.dumps(dict(results=items)))
    return str(path)


def test_files_are_matched_by_query_not_position(tmp_path):

    def item(clip, q, preds, **extra):
        return dict(
            clip_uid=clip,
            annotation_uid='a',
            query_idx=q,
            predicted_times=preds,
            **extra)

    other = [[100, 110, 0.9], [120, 130, 0.8]]
    f1 = _write(tmp_path / 'm1.json',
                [item('c1', 0, M1, extra=1),
                 item('c2', 3, other)])
    f2 = _write(tmp_path / 'm2.json',
                [item('c2', 3, other), item('c1', 0, M2)])
    f3 = _write(tmp_path / 'm3.json',
                [item('c1', 0, M3), item('c2', 3, other)])
    out = tmp_path / 'sub' / 'ensemble.json'
    ens.ensemble_files([f1, f2, f3], str(out))
    data = json.loads(out.read_text())
    assert data['challenge'] == 'ego4d_nlq_challenge'
    first, second = data['results']
    assert (first['clip_uid'], first['extra']) == ('c1', 1)
    assert first['predicted_times'] == FUSED
    assert second['predicted_times'][:2] == [[100, 110], [120, 130]]

    f4 = _write(tmp_path / 'm4.json', [item('c1', 0, M3)])
    with pytest.raises(
            ValueError,
            match=r'm4.json and .*m1.json hold '
            r'different queries: 1 missing'):
        ens.ensemble_files([f1, f4], str(tmp_path / 'x.json'))
    f5 = _write(tmp_path / 'm5.json',
                [item('c1', 0, [[1, 2]]),
                 item('c2', 3, other)])
    with pytest.raises(
            ValueError, match=r"m5.json: query \('c1', 'a', 0\) "
            r'needs'):
        ens.ensemble_files([f1, f5], str(tmp_path / 'x.json'))
    assert not (tmp_path / 'x.json').exists()


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    f1 = _write(tmp_path / 'm1.json', [dict(
        clip_uid='c', annotation_uid='a', query_idx=0, predicted_times=M1)])
    f2 = _write(tmp_path / 'm2.json', [dict(
        clip_uid='c', annotation_uid='a', query_idx=0, predicted_times=M2)])
    out = tmp_path / 'out.json'
    out.write_text('previous')

    def crash(*args):  # the process dies after writing, before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr('os.replace', crash)
    with pytest.raises(KeyboardInterrupt):
        ens.ensemble_files([f1, f2], str(out))
    monkeypatch.undo()
    assert out.read_text() == 'previous'
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'm1.json', 'm2.json', 'out.json'
    ]
    ens.ensemble_files([f1, f2], str(out))
    assert json.loads(out.read_text())['version'] == '1.0'
