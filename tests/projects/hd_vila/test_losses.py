"""HD-VILA losses against the official fixtures (contrastive losses,
clip aggregation, lse loss), the MLM masking's rules and statistics, and
the differentiable feature gather in two processes."""
import json
import subprocess
import sys
import textwrap

import pytest
import torch

from vtg_hd_vila.models.clip_aggregation import (CLIP_AGGREGATIONS,
                                                 aggregate_clips)
from vtg_hd_vila.models.losses import (IGNORE_INDEX, NCEContrastiveLoss,
                                       lse_clip_loss, mask_text_tokens,
                                       masked_lm_loss)
from vtg_plugins.registry import MODELS
from vtg_plugins.testing.refs import ref_path

TOL = dict(rtol=1e-9, atol=1e-9)


def _fixture(name):
    return json.loads(ref_path('hd_vila', name).read_text())


def _t(x, **kw):
    return torch.tensor(x, dtype=torch.float64, **kw)


def _run(loss_fn, ref):
    vis = _t(ref['vis_feat'], requires_grad=True)
    text = _t(ref['text_feat'], requires_grad=True)
    loss = loss_fn(vis, text)
    loss.backward()
    return loss, vis.grad, text.grad


def _check(loss, gv, gt, ref):
    assert torch.allclose(loss, _t(ref['loss']), **TOL)
    assert torch.allclose(gv, _t(ref['grad_vis']), **TOL)
    assert torch.allclose(gt, _t(ref['grad_text']), **TOL)


def test_finetune_nce_loss_matches_the_official_sum_of_both_directions():
    ref = _fixture('contrastive_loss.json')
    loss_fn = MODELS.build(
        dict(type='NCEContrastiveLoss', temperature=ref['temp']))
    _check(*_run(loss_fn, ref), ref)


def test_stage1_itc_is_half_the_sum_at_its_temperature():
    ref = _fixture('contrastive_loss.json')
    itc = ref['pretrain_stage1_itc']
    loss_fn = NCEContrastiveLoss(temperature=itc['temp'], loss_weight=0.5)
    inputs = dict(vis_feat=ref['vis_feat'], text_feat=ref['text_feat'])
    _check(*_run(loss_fn, dict(inputs, **itc)), itc)


def test_nce_loss_rejects_bad_arguments():
    with pytest.raises(ValueError, match='temperature'):
        NCEContrastiveLoss(temperature=0)
    with pytest.raises(ValueError, match='one shape'):
        NCEContrastiveLoss()(torch.zeros(3, 4), torch.zeros(2, 4))


@pytest.mark.parametrize('method', CLIP_AGGREGATIONS)
def test_clip_aggregation_matches_the_official_pooling(method):
    ref = _fixture('qa_mc.json')
    logits = _t(ref['logits_clips_B_labels'])
    pooled = aggregate_clips(logits, method)
    assert torch.allclose(pooled, _t(ref['aggregated'][method]), **TOL)
    assert pooled.argmax(-1).tolist() == ref['pred'][method]


def test_unknown_aggregation_is_rejected():
    with pytest.raises(ValueError, match='score_agg_func'):
        aggregate_clips(torch.zeros(2, 3), 'median')


def test_lse_clip_loss_matches_the_official_training_loss():
    ref = _fixture('qa_mc.json')
    losses = lse_clip_loss(
        _t(ref['logits_clips_B_labels']), torch.tensor(ref['labels']))
    assert torch.allclose(losses, _t(ref['lse_train_loss_per_example']), **TOL)
    assert torch.allclose(losses.mean(), _t(ref['lse_train_loss_mean']), **TOL)


def _ids(rows, length, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 60, (rows, length), generator=g)
    ids[:, 0], ids[:, -1] = 1, 2  # [CLS], [SEP]
    ids[::2, -3:] = 0  # padding
    return ids


def _mask(ids, seed, p=0.15):
    return mask_text_tokens(
        ids,
        mask_token_id=3,
        vocab_size=64,
        special_ids=(0, 1, 2, 3),
        mlm_probability=p,
        generator=torch.Generator().manual_seed(seed))


def test_masking_is_reproducible_under_a_generator():
    ids = _ids(8, 12)
    first, second, other = _mask(ids, 7), _mask(ids, 7), _mask(ids, 8)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not torch.equal(first[1], other[1])
    assert torch.equal(ids, _ids(8, 12))  # the input is not modified


def test_masking_leaves_special_tokens_and_labels_the_chosen_ones():
    ids = _ids(64, 20)
    corrupted, labels = _mask(ids, 0, p=0.5)
    chosen = labels != IGNORE_INDEX
    special = torch.isin(ids, torch.tensor([0, 1, 2, 3]))
    assert chosen.any() and not (chosen & special).any()
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(corrupted[~chosen], ids[~chosen])


def test_masking_follows_15_percent_then_80_10_10():
    ids = _ids(400, 50)
    corrupted, labels = _mask(ids, 1)
    eligible = ~torch.isin(ids, torch.tensor([0, 1, 2, 3]))
    chosen = labels != IGNORE_INDEX
    assert abs(chosen.sum() / eligible.sum() - 0.15) < 0.01
    masked = (corrupted == 3) & chosen
    kept = (corrupted == ids) & chosen
    changed = chosen & ~masked & ~kept
    n = chosen.sum()
    assert abs(masked.sum() / n - 0.8) < 0.02
    # a random id equals the original one time in 64
    assert abs(kept.sum() / n - (0.1 + 0.1 / 64)) < 0.015
    assert abs(changed.sum() / n - 0.1 * 63 / 64) < 0.015


def test_mlm_loss_without_chosen_tokens_is_a_connected_zero():
    scores = torch.randn(2, 4, 10, requires_grad=True)
    loss, acc = masked_lm_loss(scores, torch.full((2, 4), IGNORE_INDEX))
    loss.backward()
    assert loss.item() == 0 and acc is None
    assert torch.equal(scores.grad, torch.zeros_like(scores))


def test_mlm_loss_is_the_mean_over_chosen_tokens():
    scores = torch.randn(2, 3, 5, dtype=torch.float64)
    labels = torch.tensor([[IGNORE_INDEX, 4, 0],
                           [2, IGNORE_INDEX, IGNORE_INDEX]])
    loss, acc = masked_lm_loss(scores, labels)
    picks = [(0, 1, 4), (0, 2, 0), (1, 0, 2)]
    expected = sum(-torch.log_softmax(scores[i, j], -1)[k]
                   for i, j, k in picks) / 3
    assert torch.allclose(loss, expected, rtol=1e-12)
    hits = sum(int(scores[i, j].argmax() == k) for i, j, k in picks)
    assert acc.item() == pytest.approx(hits / 3)


GATHER_SCRIPT = textwrap.dedent('''
    import sys
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp
    from vtg_hd_vila.models.losses import NCEContrastiveLoss, gather_with_grad

    def run(rank, init, out):
        dist.init_process_group('gloo', init_method=init, rank=rank,
                                world_size=2)
        g = torch.Generator().manual_seed(0)
        video = torch.randn(4, 5, generator=g, dtype=torch.float64)
        text = torch.randn(4, 5, generator=g, dtype=torch.float64)
        v = video[2 * rank:2 * rank + 2].clone().requires_grad_()
        t = text[2 * rank:2 * rank + 2].clone().requires_grad_()
        loss = NCEContrastiveLoss()(gather_with_grad(v), gather_with_grad(t))
        loss.backward()
        torch.save(dict(loss=loss.detach(), v=v.grad, t=t.grad),
                   f'{out}/rank{rank}.pt')
        dist.destroy_process_group()

    if __name__ == '__main__':
        mp.start_processes(run, args=(sys.argv[1], sys.argv[2]), nprocs=2,
                           start_method='fork')
''')


def test_gathered_loss_sees_the_global_batch(tmp_path):
    script = tmp_path / 'gather.py'
    script.write_text(GATHER_SCRIPT)
    init = f'file://{tmp_path / "init"}'
    subprocess.run(
        [sys.executable, str(script), init,
         str(tmp_path)],
        check=True,
        timeout=300)
    g = torch.Generator().manual_seed(0)
    video = torch.randn(4, 5, generator=g, dtype=torch.float64)
    text = torch.randn(4, 5, generator=g, dtype=torch.float64)
    video.requires_grad_()
    text.requires_grad_()
    loss = NCEContrastiveLoss()(video, text)
    loss.backward()
    for rank in range(2):
        got = torch.load(tmp_path / f'rank{rank}.pt')
        rows = slice(2 * rank, 2 * rank + 2)
        assert torch.allclose(got['loss'], loss.detach(), rtol=1e-12)
        # every rank's loss adds its gradient: DDP's mean over the two
        # ranks then gives the global-batch gradient
        assert torch.allclose(got['v'], 2 * video.grad[rows], rtol=1e-10)
        assert torch.allclose(got['t'], 2 * text.grad[rows], rtol=1e-10)


def test_gather_is_the_identity_without_a_process_group():
    from vtg_hd_vila.models.losses import gather_with_grad
    x = torch.randn(3, 2)
    assert gather_with_grad(x) is x
