"""The parity-report helper every check_parity.py uses: structure and values
both count, and the report fails on anything a reference does not match."""
import io
import json
import math

import numpy as np
import pytest
import torch

from vtg_plugins.testing.parity import ParityReport


def _levels(n, length=8):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(2, 3, length >> i, generator=g) for i in range(n)]


def _outputs():
    return dict(
        feats=_levels(7),
        masks=[torch.ones(2, 8 >> i, dtype=torch.bool) for i in range(7)],
        results=[
            dict(segments=torch.tensor([[1.0, 2.0]]),
                 scores=torch.tensor([0.5]), labels=torch.tensor([0])),
            dict(segments=torch.tensor([[3.0, 4.0]]),
                 scores=torch.tensor([0.25]), labels=torch.tensor([0])),
        ],
        loss=torch.tensor(0.125),
        points=torch.tensor([[0.0, 4.0, math.inf]]),
        name='qvh')


def _report(ours, ref, **kw):
    report = ParityReport(atol=1e-4, **kw)
    for key in ref:
        report.compare(key, ours.get(key), ref[key])
    return report


def test_identical_outputs_pass_with_zero_diff():
    report = _report(_outputs(), _outputs())
    assert report.ok and report.failed == []
    assert report.to_dict() == {**dict.fromkeys(_outputs(), 0.0), 'ok': True}


def test_reference_with_fewer_levels_fails():
    """The zip() pitfall: 4 of 7 reference levels must not pass."""
    ref = _outputs()
    ref['feats'] = ref['feats'][:4]
    report = _report(_outputs(), ref)
    assert report.failed == ['feats'] and report['feats'] == math.inf
    assert report.problems['feats'] == [
        'feats: 7 entries vs 4 in the reference'
    ]


def test_reference_with_an_extra_level_fails():
    ours = _outputs()
    ours['masks'] = ours['masks'][:6]
    report = _report(ours, _outputs())
    assert report.failed == ['masks']
    assert '6 entries vs 7' in report.problems['masks'][0]


def test_missing_and_extra_keys_fail():
    ours = _outputs()
    del ours['results'][1]['labels']
    ours['results'][0]['extra'] = torch.zeros(1)
    report = _report(ours, _outputs())
    assert report.failed == ['results']
    assert report.problems['results'] == [
        "results[0]: keys differ: ours lacks [], the reference lacks "
        "['extra']",
        "results[1]: keys differ: ours lacks ['labels'], the reference "
        'lacks []'
    ]
    # a field we do not produce at all
    report = _report({k: v for k, v in _outputs().items() if k != 'loss'},
                     _outputs())
    assert report.failed == ['loss']
    assert report.problems['loss'] == [
        'loss: NoneType vs reference Tensor'
    ]


def test_length_and_shape_mismatch_fail():
    ours = _outputs()
    ours['results'][1]['segments'] = torch.tensor([[3.0, 4.0], [5, 6]])
    ours['feats'][2] = ours['feats'][2][..., :1]
    report = _report(ours, _outputs())
    assert report.failed == ['feats', 'results']
    assert report.problems['feats'] == [
        'feats[2]: shape (2, 3, 1) vs reference (2, 3, 2)'
    ]
    assert "results[1]['segments']: shape (2, 2) vs reference (1, 2)" in \
        report.problems['results']


def test_value_beyond_tolerance_fails_and_diff_is_reported():
    ours = _outputs()
    ours['results'][0]['scores'] = ours['results'][0]['scores'] + 1e-3
    ours['feats'][1] = ours['feats'][1] + 5e-5  # inside atol
    report = _report(ours, _outputs())
    assert report.failed == ['results']
    assert report['results'] == pytest.approx(1e-3, rel=1e-3)
    assert 0 < report['feats'] <= 5e-5 * 1.01
    assert report.problems['results'][0].startswith(
        "results[0]['scores']: 1 of 1 values outside tolerance, first at (0,)")


def test_rtol_scales_with_the_reference():
    """|ours - ref| <= atol + rtol * |ref|, as torch.allclose."""
    report = ParityReport(atol=1e-4, rtol=1e-5)
    report.compare('near', torch.tensor([1000.0]), torch.tensor([1000.005]))
    report.compare('far', torch.tensor([1.0]), torch.tensor([1.0002]))
    assert report.failed == ['far']
    assert report['near'] == pytest.approx(0.005, rel=1e-2)
    assert not ParityReport(atol=1e-4).compare(
        'x', np.float32(1.0), 1.0)  # numpy / python leaves too


def test_nan_fails_against_a_number_and_matches_nan():
    report = ParityReport(atol=1e-4)
    report.compare('one_sided', torch.tensor([1.0, math.nan]),
                   torch.tensor([1.0, 2.0]))
    report.compare('ref_nan', 0.5, math.nan)
    report.compare('both', torch.tensor([math.nan, -math.inf]),
                   [math.nan, -math.inf])
    report.compare('inf_sign', math.inf, -math.inf)
    assert report.failed == ['one_sided', 'ref_nan', 'inf_sign']
    assert report['one_sided'] == math.inf and report['both'] == 0.0
    strict = ParityReport(atol=1e-4, equal_nan=False)
    strict.compare('both', torch.tensor([math.nan]), torch.tensor([math.nan]))
    assert strict.failed == ['both']


def test_other_leaves_and_explicit_failures():
    ours = _outputs()
    ours['name'] = 'tvsum'
    report = _report(ours, _outputs())
    assert report.problems['name'] == ["name: 'tvsum' vs reference 'qvh'"]
    report.fail('outputs.new_field', 'not compared by this checker')
    assert report.failed == ['name', 'outputs.new_field']
    assert report['outputs.new_field'] == math.inf


def test_emit_prints_json_and_returns_the_exit_status():
    out, err = io.StringIO(), io.StringIO()
    assert _report(_outputs(), _outputs()).emit(out, err) == 0
    assert json.loads(out.getvalue())['ok'] is True and err.getvalue() == ''
    ref = _outputs()
    ref['feats'] = ref['feats'][:4]
    out, err = io.StringIO(), io.StringIO()
    assert _report(_outputs(), ref).emit(out, err) == 1
    doc = json.loads(out.getvalue())  # inf is written as Infinity
    assert doc['ok'] is False and doc['feats'] == math.inf
    assert doc['loss'] == 0.0
    assert "parity failed (atol=0.0001, rtol=0.0): ['feats']" in \
        err.getvalue()
    assert 'feats: 7 entries vs 4 in the reference' in err.getvalue()


def test_check_fields_flags_unknown_and_missing():
    report = ParityReport(atol=1e-6)
    assert not report.check_fields('outputs', ['a', 'c', 'z'], ['a', 'b'],
                                   ['c'])
    assert report.failed == ['outputs.z', 'outputs.b']
    assert 'missing' in report.problems['outputs.b'][0]
    ok = ParityReport(atol=1e-6)
    assert ok.check_fields('outputs', ['a', 'b'], ['a', 'b']) and ok.ok
