"""Behaviour of the R²-Tuning model on tiny random inputs (ViT-B/32 widths,
a few clips)."""
import pytest
import torch

import vtg_r2_tuning  # noqa: F401
from vtg_plugins.registry import MODELS
from vtg_r2_tuning.models import adapter as adapter_module
from vtg_r2_tuning.models.token_map import fast_dropout, keep_mask

D_VIDEO, D_QUERY = 4 * 50 * 768, 4 * 512


def _batch(lengths, qlens, seed=0):
    g = torch.Generator().manual_seed(seed)
    t, n = max(lengths), max(qlens)
    video = (torch.randn(len(lengths), t, D_VIDEO, generator=g) * .5).half()
    query = (torch.randn(len(qlens), n, D_QUERY, generator=g) * .5).half()
    for i, (a, b) in enumerate(zip(lengths, qlens)):
        video[i, a:] = float('inf')
        query[i, b:] = float('inf')
    samples = [
        dict(qid=f'q{i}', vid=f'v{i}', fps=0.5, duration=2. * a,
             gt_windows=[[0., 2. * min(a, 3)]], saliency=torch.ones(a),
             pos_clip=0) for i, a in enumerate(lengths)
    ]
    return dict(video=video, query=query), samples


def _model(**kw):
    torch.manual_seed(0)
    model = MODELS.build(dict(type='R2Tuning', **kw)).eval()
    # non-trivial gates/scales so that every path matters
    with torch.no_grad():
        model.adapter.scale.uniform_(-1, 1)
        model.adapter.gate.uniform_(-1, 1)
    return model


def test_batched_predict_equals_batch1_and_keeps_inputs():
    # 9 and 3 clips: odd lengths and levels that exist only in the batch
    lengths, qlens = [12, 9, 3], [5, 7, 2]
    inputs, samples = _batch(lengths, qlens)
    before = {k: v.clone() for k, v in inputs.items()}
    model = _model(test_cfg=dict(unit=2))
    with torch.no_grad():
        batched = model.predict(inputs, samples)
        raw = model.predict_raw(inputs, samples)
        for i, (t, n) in enumerate(zip(lengths, qlens)):
            alone = dict(video=inputs['video'][i:i + 1, :t],
                         query=inputs['query'][i:i + 1, :n])
            single = model.predict(alone, samples[i:i + 1])[0]
            single_raw = model.predict_raw(alone, samples[i:i + 1])[0]
            assert batched[i]['qid'] == f'q{i}'
            assert len(batched[i]['pred_saliency_scores']) == t
            # clips >> stride levels: 12 -> 12+6+3+1, 9 -> 9+4+2+1, 3 -> 3+1
            assert raw[i]['boundary'].shape == single_raw['boundary'].shape
            assert raw[i]['boundary'].size(0) == {0: 22, 1: 16, 2: 4}[i]
            torch.testing.assert_close(raw[i]['boundary'],
                                       single_raw['boundary'], atol=1e-5,
                                       rtol=0)
            torch.testing.assert_close(
                torch.tensor(batched[i]['pred_saliency_scores']),
                torch.tensor(single['pred_saliency_scores']), atol=1e-6,
                rtol=0)
            torch.testing.assert_close(
                torch.tensor(batched[i]['pred_relevant_windows']),
                torch.tensor(single['pred_relevant_windows']), atol=1e-5,
                rtol=0)
    for k, v in inputs.items():
        assert torch.equal(v, before[k])  # padding not zeroed in place


def test_tensor_mode_keeps_official_padding_dependence():
    """Official batched semantics: a padded sample's outputs change with
    the padding (TEF/PE normalised by padded T, unmasked pooling and
    heads), while predict mode must not."""
    inputs, samples = _batch([8, 5], [4, 3])
    model = _model()
    with torch.no_grad():
        padded = model(inputs, samples, mode='tensor')
        alone = model(dict(video=inputs['video'][1:, :5],
                           query=inputs['query'][1:, :3]), mode='tensor')
    diff = (padded['out_class'][1, :5] - alone['out_class'][0, :5]).abs()
    assert diff.max() > 1e-3


def test_list_inputs_equal_padded_inputs():
    inputs, samples = _batch([6, 4], [3, 5])
    lists = dict(video=[inputs['video'][0], inputs['video'][1, :4]],
                 query=[inputs['query'][0, :3], inputs['query'][1]])
    model = _model()
    with torch.no_grad():
        a = model(inputs, samples, mode='loss')
        b = model(lists, samples, mode='loss')
    assert a.keys() == b.keys() == {
        'loss_cls', 'loss_reg', 'loss_sal', 'loss_video_cal',
        'loss_layer_cal'
    }
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=0)


def test_loss_backward_and_streamed_head_matches_plain():
    inputs, samples = _batch([5, 3], [3, 2])
    grads, losses = [], []
    for chunk in (0, 64):  # 64 tokens: several chunks per layer
        model = _model(chunk_tokens=chunk, dropout=0., droppath=0.).train()
        out = model(inputs, samples, mode='loss')
        sum(out.values()).backward()
        losses.append(out)
        grads.append({n: p.grad for n, p in model.named_parameters()})
    for k in losses[0]:
        torch.testing.assert_close(losses[0][k], losses[1][k], atol=1e-6,
                                   rtol=0)
    for name, g in grads[0].items():
        if g is None:  # e.g. coef of the stride-8 level, absent at T=5
            assert grads[1][name] is None, name
            continue
        # key biases have zero true gradient (softmax shift invariance)
        torch.testing.assert_close(g, grads[1][name], rtol=1e-4,
                                   atol=1e-4 * float(g.abs().max()) + 1e-8,
                                   msg=name)
    assert grads[1]['adapter.video_map.norm1.weight'].abs().sum() > 0


def test_fast_dropout_is_reproducible_and_scaled():
    mask = keep_mask(100000, 0.5, torch.Generator().manual_seed(3), 'cpu')
    again = keep_mask(100000, 0.5, torch.Generator().manual_seed(3), 'cpu')
    assert torch.equal(mask, again)
    assert abs(mask.float().mean().item() - 0.5) < 0.01
    other = keep_mask(100000, 0.35, torch.Generator().manual_seed(3), 'cpu')
    assert abs(other.float().mean().item() - 0.65) < 0.01
    x = torch.ones(1000)
    y = fast_dropout(x, 0.5, True)
    assert set(y.unique().tolist()) == {0., 2.}
    assert torch.equal(fast_dropout(x, 0.5, False), x)


def test_checkpointed_chunks_replay_dropout(monkeypatch):
    """With dropout on, the checkpointed streamed path must give the same
    gradients as running the same chunks without recomputation (the
    dropout masks are replayed in backward)."""
    inputs, samples = _batch([4, 3], [3, 2])
    grads = []
    for replay in (True, False):
        if not replay:
            monkeypatch.setattr(adapter_module, 'checkpoint',
                                lambda fn, *a, **k: fn(*a))
        model = _model(chunk_tokens=100).train()
        torch.manual_seed(7)
        sum(model(inputs, samples, mode='loss').values()).backward()
        grads.append(model.adapter.video_map.fc1.weight.grad)
    assert grads[0].abs().sum() > 0
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4,
                               atol=1e-5 * float(grads[1].abs().max()))


def test_youtube_variant_outputs_saliency_only():
    model = _model(strides=(1, ), use_tef=False, use_coord_head=False,
                   merge_cls_sal=False,
                   loss_cfg=dict(cls_loss='dynamic_bce',
                                 sal_direction=('row', )))
    inputs, samples = _batch([6, 4], [3, 2])
    for s in samples:
        s['saliency'] = torch.tensor([0., 1., 1., 0., 1., 0.])[:len(
            s['saliency'])]
        del s['gt_windows'], s['fps']
    with torch.no_grad():
        losses = model(inputs, samples, mode='loss')
        preds = model.predict(inputs, samples)
    assert set(losses) == {'loss_cls', 'loss_sal', 'loss_video_cal',
                           'loss_layer_cal'}
    assert all(torch.isfinite(v) for v in losses.values())
    assert 'pred_relevant_windows' not in preds[0]
    assert [len(p['pred_saliency_scores']) for p in preds] == [6, 4]


def test_bad_inputs_give_clear_errors():
    model = _model()
    inputs, samples = _batch([4, 3], [2, 2])
    with pytest.raises(KeyError, match="qid='q1'.*pos_clip"):
        bad = [dict(samples[0]), dict(samples[1])]
        del bad[1]['pos_clip']
        model(inputs, bad, mode='loss')
    with pytest.raises(ValueError, match='not a multiple'):
        model(dict(video=inputs['video'][..., :-5], query=inputs['query']),
              mode='tensor')
    with pytest.raises(ValueError, match='not a prefix'):
        holes = inputs['video'].clone()
        holes[0, 1] = float('inf')
        model(dict(video=holes, query=inputs['query']), mode='tensor')
    with pytest.raises(ValueError, match='pos_clip 5 outside'):
        bad = [dict(s) for s in samples]
        bad[0]['pos_clip'] = 5
        model(inputs, bad, mode='loss')
    with pytest.raises(RuntimeError, match='invalid mode'):
        model(inputs, samples, mode='train')


def test_checkpointed_training_under_autocast():
    """Selective checkpointing with autocast's weight-cast cache used to
    fail in backward (the recompute issues casts the cached forward did not);
    AMP training (fp16 on GPU, bf16 on CPU) is the official default."""
    torch.manual_seed(0)
    model = MODELS.build(
        dict(type='R2Tuning',
             arch=dict(video_dims=16, query_dims=8, num_tokens=3),
             dims=16, heads=2, chunk_tokens=6))
    model.train()
    video = [torch.randn(t, 4 * 3 * 16).half() for t in (8, 6)]
    query = [torch.randn(4, 4 * 8).half() for _ in range(2)]
    samples = [
        dict(gt_windows=torch.tensor([[4., 8.]]), fps=0.5, pos_clip=2,
             saliency=(torch.arange(8) % 3 == 2).float(), qid=str(i))
        for i in range(2)
    ]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model(dict(video=video, query=query), samples, mode='loss')
    sum(losses.values()).backward()
    grads = [p.grad for p in model.adapter.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_predict_groups_of_list_inputs_do_not_change_outputs():
    torch.manual_seed(3)
    lengths = [7, 3, 5, 4]
    video = [torch.randn(t, D_VIDEO).half() for t in lengths]
    query = [torch.randn(q, D_QUERY).half() for q in (4, 6, 2, 5)]
    samples = [dict(qid=str(i), fps=0.5) for i in range(4)]
    outs = []
    for limit in (2**40, 2 * 7 * D_VIDEO, 1):  # one group, pairs, singles
        model = _model(test_cfg=dict(unit=2, max_batch_elements=limit))
        groups = model._predict_groups(dict(video=video, query=query))
        outs.append(model.predict(dict(video=video, query=query), samples))
        assert [i for g in groups for i in g] == [0, 1, 2, 3]
        assert len(groups) == {2**40: 1, 1: 4}.get(limit, 2)
    assert [len(o) for o in outs] == [4, 4, 4]
    for other in outs[1:]:
        for a, b in zip(outs[0], other):
            assert a['qid'] == b['qid']
            torch.testing.assert_close(
                torch.tensor(a['pred_relevant_windows']),
                torch.tensor(b['pred_relevant_windows']), atol=1e-5, rtol=0)
            torch.testing.assert_close(
                torch.tensor(a['pred_saliency_scores']),
                torch.tensor(b['pred_saliency_scores']), atol=1e-6, rtol=0)
