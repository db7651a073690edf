"""Parity of GroundNLQ* (cross attention in the stride-2 branch,
``backbone_arch [2, 4, 4, 6, 0]``) with the official code.

``tests/data/groundnlq/parity_star.pt`` was made by running the official
GroundNLQ code on CPU with its GroundNLQ* config, widths reduced to 32 and
the parameters the official init sets to constants re-drawn (so that the
residual branches, the cross attention among them, are not scaled by 1e-4);
it has the structure of the reference ``parity.pt`` (see
``check_parity.py``).
"""
import copy
from pathlib import Path

import pytest
import torch

from ._tools import load_tool

check_parity = load_tool('check_parity')

FIXTURE = Path(__file__).resolve().parents[2] / 'data' / 'groundnlq' / \
    'parity_star.pt'


@pytest.fixture(scope='module')
def fixture():
    return torch.load(FIXTURE, weights_only=False)


def test_fixture_is_groundnlq_star(fixture):
    assert list(fixture['config']['model']['backbone_arch']) == [2, 4, 4, 6, 0]
    sd = fixture['state_dict']
    for i in range(6):
        assert f'backbone.branch.{i}.cross_attn.key.weight' in sd
    assert not any(k.startswith('backbone.branch.6.') for k in sd)


def test_star_parity_with_official_outputs(fixture):
    report = check_parity.check(fixture)
    assert report.failed == [], report.problems
    assert report.ok
    for field in ('backbone_feats', 'fpn_feats', 'cls_logits', 'offsets',
                  'results.segments', 'real_len.results.segments',
                  'real_len.cls_logits', 'losses.final_loss',
                  'losses_train_forward.final_loss', 'gt_offsets', 'pos_embd'):
        assert field in report


def _perturbed(fixture, name, index, delta):
    fixture = copy.deepcopy(fixture)
    target = fixture['outputs'][name]
    for key in index[:-1]:
        target = target[key]
    target[index[-1]] += delta
    return fixture


def _padded_mode(fields):
    return {f for f in fields if not f.startswith('real_len.')}


@pytest.mark.parametrize(
    'name,index,field',
    [
        # the last pyramid level, after all six cross-attention blocks
        ('cls_logits', (6, (0, 1, 0)), 'cls_logits'),
        ('results', (1, 'scores', 0), 'results.scores'),
    ])
def test_an_output_off_by_more_than_the_tolerance_fails(
        fixture, name, index, field):
    delta = 10 * (check_parity.DEFAULT_ATOL + check_parity.DEFAULT_RTOL)
    report = check_parity.check(_perturbed(fixture, name, index, delta))
    # both runs (padded to max_seq_len and at the real length) see it, and
    # nothing else of the padded run fails
    assert {field, 'real_len.' + field} <= set(report.failed)
    assert _padded_mode(report.failed) == {field}
    assert report[field] == pytest.approx(delta, rel=0.05)


def test_a_model_without_the_branch_cross_attention_fails(fixture):
    """Zeroing the branch cross attention's output projection gives the
    model GroundNLQ would be without it: the fixture must notice."""
    fixture = copy.deepcopy(fixture)
    sd = fixture['state_dict']
    for key in sd:
        if key.startswith('backbone.branch.') and '.cross_attn.proj.' in key:
            sd[key] = torch.zeros_like(sd[key])
    report = check_parity.check(fixture)
    for field in ('fpn_feats', 'cls_logits', 'offsets', 'results.segments',
                  'losses.final_loss', 'real_len.results.scores'):
        assert field in report.failed
        assert report[field] > 10 * check_parity.DEFAULT_ATOL
    assert 'backbone_masks' not in report.failed
