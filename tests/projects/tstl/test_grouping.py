"""vtg_tstl.grouping (class_grouping.json, confusion grouping) and
projects/tstl/tools/build_grouping.py on small files written here."""
import importlib.util
import json
from pathlib import Path

import mmengine
import numpy as np
import pytest
import torch

from vtg_tstl.grouping import (ClassGrouping, group_by_confusion,
                               load_class_grouping)

TOOL = Path(__file__).resolve().parents[3] / 'projects' / 'tstl' / \
    'tools' / 'build_grouping.py'

# the official layout: string keys, a group whose order is not sorted
OFFICIAL = {
    'class_to_head': {
        '0': 1,
        '1': 0,
        '2': 0,
        '3': 1,
        '4': 2
    },
    'head_to_classes': {
        '0': [1, 2],
        '1': [3, 0],
        '2': [4]
    },
    'head_to_local': {
        '0': {
            '1': 0,
            '2': 1
        },
        '1': {
            '3': 0,
            '0': 1
        },
        '2': {
            '4': 0
        }
    },
    'num_heads': 3,
    'num_classes': 5,
}


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('_tstl_build_grouping', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write(tmp_path, doc, name='grouping.json'):
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def test_official_layout_loads_and_round_trips(tmp_path):
    g = load_class_grouping(_write(tmp_path, OFFICIAL), num_classes=5)
    assert (g.num_groups, g.num_classes) == (3, 5)
    assert [g.group_of(c) for c in range(5)] == [1, 0, 0, 1, 2]
    assert g.group_of(np.int64(3)) == 1 and g.group_of(torch.tensor(4)) == 2
    assert g.classes_of(1) == (3, 0)  # the file's order is kept
    assert g.to_json() == OFFICIAL


def test_only_class_to_head_is_needed(tmp_path):
    g = load_class_grouping(
        _write(tmp_path, {'class_to_head': OFFICIAL['class_to_head']}))
    assert g.groups == ((1, 2), (0, 3), (4, ))


def test_unmapped_class_is_an_error_not_group_0(tmp_path):
    path = _write(tmp_path, OFFICIAL)
    g = load_class_grouping(path)
    with pytest.raises(
            ValueError, match=r'class 7 is not in the class '
            r'grouping.*group 0') as e:
        g.group_of(7)
    assert str(path) in str(e.value)
    with pytest.raises(ValueError, match='not an integer'):
        g.group_of('x')
    with pytest.raises(ValueError, match='group 3 does not exist'):
        g.classes_of(3)


@pytest.mark.parametrize('doc, match', [
    ('{"class_to_head": {"0": 0,}}', r'line 1: invalid JSON'),
    ('[1, 2]', "JSON object with the key 'class_to_head'"),
    ({
        'head_to_classes': {
            '0': [0]
        }
    }, "no 'class_to_head' key"),
    ({
        'class_to_head': {
            'a': 0
        }
    }, r"class_to_head\['a'\] \(class id\): 'a' "
     'is not an integer'),
    ({
        'class_to_head': {
            '0': 1.5
        }
    }, r'\(group id\): 1.5 is not an integer'),
    ({
        'class_to_head': {
            '0': True
        }
    }, 'is not an integer'),
    ({
        'class_to_head': {
            '0': -1
        }
    }, 'is negative'),
    ({
        'class_to_head': {
            '0': 0,
            '1': 2
        }
    }, r'no class is in group\(s\) 1'),
    ({
        'class_to_head': {
            '0': 0,
            '2': 0
        }
    }, 'class 1 is in no group'),
    ({
        'class_to_head': {
            '0': 0,
            '1': 1
        },
        'num_heads': 3
    }, 'num_heads is 3'),
    ({
        'class_to_head': {
            '0': 0,
            '1': 1
        },
        'num_classes': 3
    }, r"class 2 of 0..2 is not in 'class_to_head'"),
    ({
        'class_to_head': {
            '0': 0,
            '1': 1
        },
        'head_to_classes': {
            '0': [0, 1],
            '1': [1]
        }
    }, r"head_to_classes\['0'\] disagrees with 'class_to_head' on class\(es\) "
     '1'),
    ({
        'class_to_head': {
            '0': 0,
            '1': 0
        },
        'head_to_classes': {
            '0': [0, 1, 1]
        }
    }, 'a class is listed twice'),
    ({
        'class_to_head': {
            '0': 0,
            '1': 1
        },
        'head_to_classes': {
            '0': [0]
        }
    }, "'head_to_classes' has groups 0"),
    ({
        'class_to_head': {
            '0': 0,
            '1': 0
        },
        'head_to_classes': {
            '0': [1, 0]
        },
        'head_to_local': {
            '0': {
                '0': 0,
                '1': 1
            }
        }
    }, r"head_to_local\['0'\] is not the position"),
])
def test_bad_files_are_errors_naming_the_file(tmp_path, doc, match):
    path = _write(tmp_path, doc)
    with pytest.raises(ValueError, match=match) as e:
        load_class_grouping(path)
    assert str(e.value).startswith(str(path))


def test_num_classes_argument(tmp_path):
    path = _write(tmp_path, {'class_to_head': {'0': 0, '1': 1, '2': 0}})
    assert load_class_grouping(path, num_classes=3).num_classes == 3
    with pytest.raises(ValueError, match=r'class 3 of 0..3 is not in'):
        load_class_grouping(path, num_classes=4)
    with pytest.raises(ValueError, match='class 2 is outside 0..1'):
        load_class_grouping(path, num_classes=2)
    doc = dict(class_to_head={'0': 0, '1': 1, '2': 0}, num_classes=3)
    with pytest.raises(ValueError, match='num_classes is 3 but 4'):
        load_class_grouping(_write(tmp_path, doc), num_classes=4)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.json does not exist'):
        load_class_grouping(tmp_path / 'nope.json')


def test_class_grouping_checks_partition():
    with pytest.raises(
            ValueError, match='class 1 is in group 0 and in '
            'group 1'):
        ClassGrouping(((0, 1), (1, 2)))
    with pytest.raises(ValueError, match='group 1 has no class'):
        ClassGrouping(((0, ), ()))
    with pytest.raises(ValueError, match='class 1 is in no group'):
        ClassGrouping(((0, 2), ))


def _block_confusion(pairs, num_classes, strength=20.0):
    conf = np.eye(num_classes) * 50
    for a, b in pairs:
        conf[a, b] += strength
    return conf


def test_confusion_groups_pair_confused_classes():
    # 0<->5, 1<->7, 2<->9 ... are confused (one direction only is enough:
    # the affinity is symmetrised)
    pairs = [(0, 5), (7, 1), (2, 9), (3, 11), (4, 6), (8, 10)]
    g = group_by_confusion(_block_confusion(pairs, 12), 6)
    assert g.groups == ((0, 5), (1, 7), (2, 9), (3, 11), (4, 6), (8, 10))


def test_confusion_average_linkage_by_hand():
    # row rates: 0->1 0.9, 1->0 0.3, 1->2 0.6, 2->1 0.4, 2->3 0.4; the
    # symmetric affinities: (0,1) 0.6, (1,2) 0.5, (2,3) 0.2, others 0
    conf = np.array([[1, 9, 0, 0], [3, 1, 6, 0], [0, 4, 2, 4], [0, 0, 0, 10]],
                    dtype=float)
    # (0,1) merges first; then {0,1}-2 has average linkage (0 + 0.5) / 2 =
    # 0.25 but makes 3 classes, over the cap ceil(4 / 2) = 2, so (2,3)
    # with 0.2 merges
    assert group_by_confusion(conf, 2).groups == ((0, 1), (2, 3))
    # with a cap of 3, 0.25 > 0.2: class 2 joins {0, 1}
    assert group_by_confusion(conf, 2, max_size=3).groups == ((0, 1, 2), (3, ))
    assert group_by_confusion(conf, 1).groups == ((0, 1, 2, 3), )


def test_confusion_cap_grows_only_when_needed():
    # no confusion at all: ties go to the smallest ids; 8 classes into 3
    # groups under the cap ceil(8/3) = 3
    g = group_by_confusion(np.eye(8), 3)
    assert g.groups == ((0, 1, 2), (3, 4, 5), (6, 7))
    # 0-1, 2-3, 4-5, 6-7 strongly confused: pairs form first, then no two
    # pairs fit under 3, so the cap grows to 4 for one merge
    g = group_by_confusion(
        _block_confusion([(0, 1), (2, 3), (4, 5), (6, 7)], 8), 3)
    assert sorted(len(x) for x in g.groups) == [2, 2, 4]
    assert all(
        set(p) <= set(x) for p in [(0, 1), (2, 3), (4, 5), (6, 7)]
        for x in g.groups if p[0] in x)


def test_confusion_rows_are_normalised():
    # class 0 has 1000 clips, class 3 ten: the raw count 0->1 (100) is a
    # rate of 0.1, the count 3->2 (5) a rate of 0.5: 2-3 pair up first
    conf = np.diag([900.0, 50.0, 50.0, 5.0])
    conf[0, 1] = 100
    conf[3, 2] = 5
    g = group_by_confusion(conf, 3)
    assert (2, 3) in g.groups


@pytest.mark.parametrize('conf, groups, kw, match', [
    (np.ones((3, 4)), 2, {}, r'must be \[C, C\]'),
    (-np.ones((3, 3)), 2, {}, 'non-negative'),
    (np.full((3, 3), np.nan), 2, {}, 'finite'),
    (np.eye(3), 4, {}, r'num_groups must be in 1..3'),
    (np.eye(6), 2, dict(max_size=2), 'max_size 2 cannot hold'),
])
def test_confusion_errors(conf, groups, kw, match):
    with pytest.raises(ValueError, match=match):
        group_by_confusion(conf, groups, **kw)


def _loaded(path):
    doc = json.loads(path.read_text())
    assert sorted(doc) == sorted(OFFICIAL)
    return load_class_grouping(path, num_classes=doc['num_classes'])


def test_tool_from_confusion(tool, tmp_path):
    pairs = [(0, 3), (1, 2), (4, 5)]
    np.save(tmp_path / 'cm.npy', _block_confusion(pairs, 6))
    out = tmp_path / 'out.json'
    assert tool.main([
        '--confusion',
        str(tmp_path / 'cm.npy'), '--num-groups', '3', '--out',
        str(out)
    ]) == 0
    assert _loaded(out).groups == ((0, 3), (1, 2), (4, 5))


def test_tool_from_predictions(tool, tmp_path):
    # videos of class 0 are predicted as 2 and back: 0-2 pair up; 1-3 too
    preds = []
    for gt, pred in [(0, 2), (0, 2), (2, 0), (1, 3), (3, 1), (0, 0), (1, 1),
                     (2, 2), (3, 3)]:
        score = torch.zeros(4)
        score[pred] = 1.0
        preds.append(dict(pred_score=score, gt_label=torch.tensor([gt])))
    mmengine.dump(preds, str(tmp_path / 'results.pkl'))
    out = tmp_path / 'out.json'
    assert tool.main([
        '--predictions',
        str(tmp_path / 'results.pkl'), '--num-groups', '2', '--out',
        str(out)
    ]) == 0
    assert _loaded(out).groups == ((0, 2), (1, 3))


def test_tool_from_given_groups(tool, tmp_path):
    out = tmp_path / 'out.json'
    _write(tmp_path, [[4, 1], [0, 2, 3]], 'groups.json')
    assert tool.main([
        '--groups',
        str(tmp_path / 'groups.json'), '--out',
        str(out), '--num-classes', '5'
    ]) == 0
    g = _loaded(out)
    assert g.groups == ((4, 1), (0, 2, 3))
    assert json.loads(out.read_text())['head_to_local']['0'] == {
        '4': 0,
        '1': 1
    }
    (tmp_path / 'groups.csv').write_text('3, 1\n\n0,2\n')
    assert tool.main(
        ['--groups',
         str(tmp_path / 'groups.csv'), '--out',
         str(out)]) == 0
    assert _loaded(out).groups == ((3, 1), (0, 2))


@pytest.mark.parametrize('text, name, extra, match', [
    ('0,1\n1,2\n', 'g.csv', [], 'class 1 is in group 0 and in group 1'),
    ('0,1\n3\n', 'g.csv', [], 'class 2 is in no group'),
    ('0,1\nx\n', 'g.csv', [], r"line 2: 'x' is not a non-negative"),
    ('[[0, 1], [2]]', 'g.json', ['--num-classes', '4'
                                 ], '3 classes, --num-classes is 4'),
    ('[[0, 1], [2]]', 'g.json', ['--num-groups', '3'
                                 ], '2 groups, --num-groups is 3'),
    ('[[0, 1], 2]', 'g.json', [], 'a list of class-id lists'),
])
def test_tool_rejects_bad_groups(tool, tmp_path, capsys, text, name, extra,
                                 match):
    path = _write(tmp_path, text, name)
    out = tmp_path / 'out.json'
    assert tool.main(['--groups', str(path), '--out', str(out), *extra]) == 1
    assert match in capsys.readouterr().err
    assert not out.exists()


def test_tool_needs_num_groups_for_confusion(tool, tmp_path, capsys):
    np.save(tmp_path / 'cm.npy', np.eye(3))
    assert tool.main([
        '--confusion',
        str(tmp_path / 'cm.npy'), '--out',
        str(tmp_path / 'o.json')
    ]) == 1
    assert '--num-groups is needed' in capsys.readouterr().err
