"""HD-VILA QA and multiple-choice models: clip pooling and losses (the
official fixture through the model's own loss / predict), option layout,
OOV answers, predictions through the vtg_plugins metrics, MSRVTT-MC scoring
against the fixture, and one end-to-end run on the real video encoder."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from vtg_hd_vila.models.multiple_choice import option_dot_scores
from vtg_plugins.registry import METRICS, MODELS
from vtg_plugins.testing.refs import ref_path

_spec = importlib.util.spec_from_file_location(
    '_hd_vila_stand_ins',
    Path(__file__).with_name('stand_ins.py'))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

TOL = dict(rtol=1e-9, atol=1e-9)


def _t(x):
    return torch.tensor(x, dtype=torch.float64)


def _fixture():
    return json.loads(ref_path('hd_vila', 'qa_mc.json').read_text())


def _model(type_, tiny, encoder=None, **kwargs):
    """The model, its transformer re-drawn with std 0.5 so that scores of
    different inputs lie far apart (BERT's 0.02 init makes them close)."""
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type=type_,
            video_encoder=encoder or helpers.stand_in(tiny['hidden_size']),
            bert_config=dict(tiny, attn_implementation='eager'),
            **kwargs))
    for p in model.transformer.parameters():
        torch.nn.init.normal_(p, std=0.5)
    return model


def _qa_data(videos=3, clips=2, **fields):
    return dict(
        inputs=helpers.video_batch(videos, clips),
        data_samples=helpers.caption_samples(
            videos, question_id=list(range(videos)), **fields))


def _mc_data(videos=3, clips=2, options=5, **fields):
    return dict(
        inputs=helpers.video_batch(videos, clips),
        data_samples=helpers.option_samples(videos, options, **fields))


@pytest.mark.parametrize('method', ['mean', 'max', 'lse'])
def test_qa_loss_and_predict_on_the_official_fixture(tiny_bert_config, method,
                                                     monkeypatch):
    ref = _fixture()
    logits = _t(ref['logits_clips_B_labels'])
    model = _model(
        'HDVILAVideoQA', tiny_bert_config, num_labels=6, score_agg_func=method)
    monkeypatch.setattr(model, 'clip_logits', lambda *_: logits)
    data = _qa_data(answer_label=ref['labels'])
    loss = model(**data, mode='loss')['loss_cls']
    labels = torch.tensor(ref['labels'])
    if method == 'lse':
        expected = _t(ref['lse_train_loss_mean'])
    else:
        pooled = _t(ref['aggregated'][method])
        expected = F.cross_entropy(pooled, labels)
    assert torch.allclose(loss, expected, **TOL)
    samples = model(**data, mode='predict')
    assert [s.pred_label for s in samples] == ref['pred'][method]
    got = torch.stack([s.pred_score for s in samples])
    assert torch.allclose(got, _t(ref['aggregated'][method]), **TOL)


def test_qa_rows_with_an_unknown_answer_add_no_loss(tiny_bert_config,
                                                    monkeypatch):
    ref = _fixture()
    logits = _t(ref['logits_clips_B_labels'])
    model = _model(
        'HDVILAVideoQA', tiny_bert_config, num_labels=6, score_agg_func='lse')
    monkeypatch.setattr(model, 'clip_logits', lambda *_: logits)
    data = _qa_data(answer_label=[ref['labels'][0], -1, ref['labels'][2]])
    loss = model(**data, mode='loss')['loss_cls']
    per = ref['lse_train_loss_per_example']
    assert loss.item() == pytest.approx((per[0] + per[2]) / 2, rel=1e-12)
    data = _qa_data(answer_label=[-1, -1, -1])
    assert model(**data, mode='loss')['loss_cls'].item() == 0


def test_qa_trains_and_its_predictions_feed_the_open_ended_metric(
        tiny_bert_config):
    model = _model(
        'HDVILAVideoQA', tiny_bert_config, num_labels=4, score_agg_func='lse')
    answers = ['dog', 'cat', 'man']
    types = ['what', 'who', 'what']
    data = _qa_data(answer_label=[0, 1, -1], answer=answers, answer_type=types)
    prepared = model.data_preprocessor(data, training=True)
    loss = model(**prepared, mode='loss')['loss_cls']
    loss.backward()
    assert model.transformer.classifier[2].weight.grad.abs().sum() > 0
    logits = model.eval()(**prepared, mode='tensor')['logits']
    assert logits.shape == (2, 3, 4)
    samples = model.val_step(data)
    ans2label = dict(dog=0, cat=1, red=2, two=3)
    metric = METRICS.build(
        dict(type='OpenEndedQAMetric', ans2label=ans2label, task='msrvtt_qa'))
    metric.process(None, samples)
    got = metric.compute_metrics(metric.results)
    label2ans = {v: k for k, v in ans2label.items()}
    correct = [label2ans[s.pred_label] == a for s, a in zip(samples, answers)]
    assert got['overall_acc'] == pytest.approx(sum(correct) / 3)
    pooled = torch.logsumexp(logits, 0)
    assert [s.pred_label for s in samples] == pooled.argmax(-1).tolist()


def test_mc_scores_each_option_row_with_its_own_video(tiny_bert_config):
    model = _model('HDVILAMultipleChoice', tiny_bert_config).double().eval()
    data = model.data_preprocessor(_mc_data(videos=2, clips=3, options=4))
    data['inputs'] = {k: v.double() for k, v in data['inputs'].items()}
    logits = model(**data, mode='tensor')['logits']
    assert logits.shape == (3, 2, 4)
    t = model.transformer
    grid = model.clip_grids(data['inputs'])
    for video, sample in enumerate(data['data_samples']):
        for k in range(4):
            alone = t(grid[:, video:video + 1], sample.option_ids[k:k + 1],
                      sample.option_mask[k:k + 1])
            assert torch.allclose(
                logits[:, video, k], alone[:, 0, 0], rtol=1e-10)
            other = t(grid[:, 1 - video:2 - video], sample.option_ids[k:k + 1],
                      sample.option_mask[k:k + 1])
            assert not torch.allclose(logits[:, video, k], other[:, 0, 0])


def test_mc_trains_and_feeds_the_multiple_choice_metric(tiny_bert_config):
    model = _model(
        'HDVILAMultipleChoice', tiny_bert_config, score_agg_func='mean')
    data = _mc_data(gt_label=[4, 0, 2])
    prepared = model.data_preprocessor(data, training=True)
    model.eval()
    logits = model(**prepared, mode='tensor')['logits']
    loss = model(**prepared, mode='loss')['loss_cls']
    expected = F.cross_entropy(logits.mean(0), torch.tensor([4, 0, 2]))
    assert torch.allclose(loss, expected, atol=1e-6)
    samples = model.val_step(data)
    metric = METRICS.build(dict(type='MultipleChoiceMetric'))
    metric.process(None, samples)
    got = metric.compute_metrics(metric.results)
    preds = logits.mean(0).argmax(-1).tolist()
    assert [s.pred_label for s in samples] == preds
    assert got['overall_acc'] == pytest.approx(
        sum(p == g for p, g in zip(preds, [4, 0, 2])) / 3)


def test_msrvtt_mc_scores_match_the_official_fixture():
    ref = _fixture()['msrvtt_mc']
    video = _t(ref['vis_feat'])
    options = _t(ref['text_feat_Bx5'])
    scores = option_dot_scores(video, options)
    assert torch.allclose(scores, _t(ref['scores']), **TOL)
    assert scores.argmax(-1).tolist() == ref['pred']
    samples = [
        dict(question_id=i, pred_score=s, gt_label=g)
        for i, (s, g) in enumerate(zip(scores, ref['gt']))
    ]
    metric = METRICS.build(dict(type='MultipleChoiceMetric'))
    metric.process(None, samples)
    got = metric.compute_metrics(metric.results)
    assert got['mc_accuracy'] == float(ref['official_eval']['mc_accuracy'])
    with pytest.raises(ValueError, match='evenly'):
        option_dot_scores(video, options[:7])


def test_msrvtt_mc_model_scores_options_by_its_retrieval_features(
        tiny_bert_config):
    model = _model('HDVILARetrievalMultipleChoice', tiny_bert_config)
    data = _mc_data(videos=2, options=5, gt_label=[1, 3])
    samples = model.val_step(data)
    prepared = model.data_preprocessor(data)
    t = model.transformer
    video = t.video_features(model.clip_grids(prepared['inputs']))
    for i, sample in enumerate(prepared['data_samples']):
        text = t.text_features(sample.option_ids, sample.option_mask)
        expected = text @ video[i]
        assert torch.allclose(samples[i].pred_score, expected, atol=1e-6)
        assert samples[i].pred_label == int(expected.argmax())


def test_end_to_end_on_the_real_video_encoder(tiny_bert_config):
    encoder = dict(
        type='HDVILAVideoEncoder',
        hidden_size=16,
        resnet_depth=18,
        timesformer_depth=1,
        timesformer_heads=2,
        num_frames=3,
        grid_size=(1, 1),
        fused_attn=False)
    model = _model(
        'HDVILAVideoQA',
        tiny_bert_config,
        encoder,
        num_labels=5,
        score_agg_func='max')
    g = torch.Generator().manual_seed(0)
    inputs = dict(
        keyframes=torch.randint(
            256, (2, 2, 3, 64, 64), generator=g, dtype=torch.uint8),
        frames=torch.randint(
            256, (2, 2, 2, 3, 16, 16), generator=g, dtype=torch.uint8))
    data = dict(
        inputs=inputs,
        data_samples=helpers.caption_samples(
            2, question_id=[0, 1], answer_label=[3, 1]))
    prepared = model.data_preprocessor(data, training=True)
    loss = model.train()(**prepared, mode='loss')['loss_cls']
    loss.backward()
    assert model.video_encoder.grid_encoder_combine[0].weight.grad is not None
    samples = model.val_step(data)
    assert all(s.pred_score.shape == (5, ) for s in samples)
