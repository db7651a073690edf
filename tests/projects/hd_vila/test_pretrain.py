"""HD-VILA pre-training and retrieval models on a stand-in video encoder:
features and loss of the dual encoder, retrieval predictions through the
metric, the stage-2 freezing rule (an optimizer step), MLM / ITM and their
reproducibility."""
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from vtg_hd_vila.models.losses import NCEContrastiveLoss
from vtg_plugins.registry import METRICS, MODELS

_spec = importlib.util.spec_from_file_location(
    '_hd_vila_stand_ins',
    Path(__file__).with_name('stand_ins.py'))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


def _model(type_, tiny, **kwargs):
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type=type_,
            video_encoder=helpers.stand_in(tiny['hidden_size']),
            bert_config=dict(tiny, attn_implementation='eager'),
            **kwargs))


def _data(videos=4, clips=2, **fields):
    return dict(
        inputs=helpers.video_batch(videos, clips),
        data_samples=helpers.caption_samples(videos, **fields))


def _stage2(tiny, **kwargs):
    return _model(
        'HDVILAPretrainStage2',
        tiny,
        mask_token_id=helpers.MASK,
        special_token_ids=helpers.TINY_SPECIAL_IDS,
        **kwargs)


def test_dual_encoder_features_follow_the_official_pooling(tiny_bert_config):
    model = _model('HDVILAPretrainStage1', tiny_bert_config).eval()
    data = model.data_preprocessor(_data())
    out = model(**data, mode='tensor')
    grid = model.clip_grids(data['inputs'])  # [clips, B, h, w, C]
    assert grid.shape == (2, 4, 2, 3, 16)
    t = model.transformer
    expected_video = F.normalize(t.v_proj(grid.mean((0, 2, 3))), dim=-1)
    assert torch.allclose(out['vis_features'], expected_video, atol=1e-6)
    ids = torch.stack([s.text_ids for s in data['data_samples']])
    mask = torch.stack([s.text_mask for s in data['data_samples']])
    states = t.bert.encode_text(ids, mask)
    mean = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    pooled = t.bert.pooler1.activation(t.bert.pooler1.dense(mean))
    expected_text = F.normalize(t.t_proj(pooled), dim=-1)
    assert torch.allclose(out['text_features'], expected_text, atol=1e-6)


def test_clips_of_a_video_are_encoded_sample_major(tiny_bert_config):
    model = _model('HDVILAPretrainStage1', tiny_bert_config).eval()
    data = model.data_preprocessor(_data(videos=3, clips=2))
    grid = model.clip_grids(data['inputs'])
    one = model.video_encoder(
        keyframes=data['inputs']['keyframes'][2, 1:2],
        frames=data['inputs']['frames'][2, 1:2])
    assert torch.allclose(grid[1, 2], one[0].permute(1, 2, 0))


@pytest.mark.parametrize('type_,temperature,weight',
                         [('HDVILAPretrainStage1', 0.05, 0.5),
                          ('HDVILARetrieval', 0.08, 1.0)])
def test_dual_encoder_loss_is_its_contrastive_loss(tiny_bert_config, type_,
                                                   temperature, weight):
    model = _model(type_, tiny_bert_config).eval()
    data = model.data_preprocessor(_data())
    feats = model(**data, mode='tensor')
    loss = model(**data, mode='loss')
    expected = NCEContrastiveLoss(temperature, weight)(feats['vis_features'],
                                                       feats['text_features'])
    assert set(loss) == {'loss_contrastive'}
    assert torch.allclose(loss['loss_contrastive'], expected)


def test_retrieval_predictions_feed_the_hd_vila_metric(tiny_bert_config):
    model = _model('HDVILARetrieval', tiny_bert_config)
    samples = model.val_step(_data(videos=5))
    for s in samples:
        assert s.text_feature.shape == (16, ) and s.video_feature.shape == (
            16, )
    metric = METRICS.build(
        dict(type='TextVideoRetrievalMetric', protocol='hd_vila'))
    metric.process(None, samples)
    got = metric.compute_metrics(metric.results)
    text = torch.stack([s.text_feature for s in samples])
    video = torch.stack([s.video_feature for s in samples])
    sim = text @ video.t()  # the features are L2-normalised
    assert torch.allclose(text.norm(dim=-1), torch.ones(5), atol=1e-6)
    t2v = sum(int(sim[i].argmax() == i) for i in range(5)) / 5
    v2t = sum(int(sim[:, i].argmax() == i) for i in range(5)) / 5
    assert got['t2v_R1'] == pytest.approx(t2v)
    assert got['v2t_R1'] == pytest.approx(v2t)
    assert {'t2v_R50', 't2v_MedR', 't2v_MeanR'} <= set(got)


STAGE1_PARTS = ('video_encoder.', 'transformer.bert.embeddings.',
                'transformer.bert.encoder.layer.0.',
                'transformer.bert.encoder.layer.1.')
CARRIED = ('transformer.bert.pooler1.', 'transformer.t_proj.',
           'transformer.v_proj.')
UNREAD_WITHOUT_ITM = ('transformer.bert.pooler2.',
                      'transformer.cls.seq_relationship.')


def _frozen(model):
    return {n for n, p in model.named_parameters() if not p.requires_grad}


def _names(model, prefixes):
    return {n for n, _ in model.named_parameters() if n.startswith(prefixes)}


def test_stage2_freezes_stage1_and_an_optimizer_step_leaves_it(
        tiny_bert_config):
    model = _stage2(tiny_bert_config, mlm_probability=0.5).train()
    frozen = STAGE1_PARTS + CARRIED + UNREAD_WITHOUT_ITM
    assert _frozen(model) == _names(model, frozen)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.generator = torch.Generator().manual_seed(0)
    data = model.data_preprocessor(_data(), training=True)
    loss = model(**data, mode='loss')
    loss['loss_mlm'].backward()
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                    lr=1.0).step()
    for name, param in model.named_parameters():
        moved = not torch.equal(param, before[name])
        if name.startswith(frozen):
            assert param.grad is None and not moved, name
    trained = ('transformer.bert.encoder.layer.2.', 'transformer.cls.'
               'predictions.', 'transformer.bert.visual_embeddings.')
    for prefix in trained:
        assert any(not torch.equal(p, before[n])
                   for n, p in model.named_parameters()
                   if n.startswith(prefix)), prefix


def test_stage2_without_freezing_trains_stage1_but_not_the_carried_parts(
        tiny_bert_config):
    model = _stage2(tiny_bert_config, freeze_stage1=False, use_itm=True)
    assert _frozen(model) == _names(model, CARRIED)


def test_stage2_mlm_is_reproducible_under_the_generator(tiny_bert_config):
    model = _stage2(tiny_bert_config, pixel_random_sampling_size=4).train()
    data = model.data_preprocessor(_data(), training=True)
    runs = []
    for _ in range(2):
        model.generator = torch.Generator().manual_seed(5)
        runs.append(model(**data, mode='loss'))
    assert set(runs[0]) == {'loss_mlm', 'mlm_acc'}
    assert torch.equal(runs[0]['loss_mlm'], runs[1]['loss_mlm'])
    model.generator = torch.Generator().manual_seed(6)
    assert not torch.equal(
        model(**data, mode='loss')['loss_mlm'], runs[0]['loss_mlm'])


def test_stage2_itm_skips_the_mlm_of_negative_pairs(tiny_bert_config):
    model = _stage2(tiny_bert_config, use_itm=True, mlm_probability=0.5).eval()
    data = model.data_preprocessor(_data(itm_label=[1, 0, 1, 0]))
    model.generator = torch.Generator().manual_seed(0)
    loss = model(**data, mode='loss')
    assert {'loss_mlm', 'loss_itm', 'itm_acc'} <= set(loss)
    out = model(**data, mode='tensor')
    labels = torch.tensor([1, 0, 1, 0])
    expected_itm = F.cross_entropy(out['seq_relationship'], labels)
    assert torch.allclose(loss['loss_itm'], expected_itm)
    # all captions negative: no MLM term at all
    data = model.data_preprocessor(_data(itm_label=[0, 0, 0, 0]))
    assert model(**data, mode='loss')['loss_mlm'].item() == 0
    with pytest.raises(ValueError, match="no 'itm_label'"):
        model(**model.data_preprocessor(_data()), mode='loss')


def test_stage2_heads_pool_clips_before_reading_text(tiny_bert_config):
    model = _stage2(tiny_bert_config, score_agg_func='max').eval()
    data = model.data_preprocessor(_data(videos=2, clips=3))
    out = model(**data, mode='tensor')
    t = model.transformer
    ids = torch.stack([s.text_ids for s in data['data_samples']])
    mask = torch.stack([s.text_mask for s in data['data_samples']])
    grid = model.clip_grids(data['inputs'])
    states = t.bert.encode_text(ids, mask)
    seq, pooled = t.bert.cross_modal_clips(states, mask, grid)
    scores, rel = t.cls(
        seq.max(0).values[:, :ids.shape[1]],
        pooled.max(0).values)
    assert out['prediction_scores'].shape == (2, 7, 64)
    assert torch.allclose(out['prediction_scores'], scores)
    assert torch.allclose(out['seq_relationship'], rel)
    decoder = t.cls.predictions.decoder.weight
    word = t.bert.embeddings.word_embeddings.weight
    assert decoder is not word  # cloned, as official, not tied


def test_official_transformer_names(tiny_bert_config):
    stage2 = _stage2(tiny_bert_config)
    names = set(stage2.state_dict())
    assert {
        'transformer.bert.embeddings.word_embeddings.weight',
        'transformer.bert.encoder.layer.3.attention.self.key.weight',
        'transformer.bert.pooler1.dense.weight',
        'transformer.bert.pooler2.dense.weight',
        'transformer.bert.visual_embeddings.row_position_embeddings.weight',
        'transformer.cls.predictions.transform.dense.weight',
        'transformer.cls.predictions.decoder.weight',
        'transformer.cls.predictions.bias',
        'transformer.cls.seq_relationship.weight', 'transformer.t_proj.weight',
        'transformer.v_proj.weight'
    } <= names
    stage1 = _model('HDVILAPretrainStage1', tiny_bert_config)
    names = {n for n in stage1.state_dict() if n.startswith('transformer.')}
    layers = {n.split('.')[4] for n in names if '.encoder.layer.' in n}
    assert layers == {'0', '1'}
    assert not any('visual_embeddings' in n or '.cls.' in n for n in names)


def test_missing_text_fields_name_the_sample(tiny_bert_config):
    model = _model('HDVILAPretrainStage1', tiny_bert_config)
    data = model.data_preprocessor(_data(videos=2))
    del data['data_samples'][1].text_mask
    with pytest.raises(ValueError, match="data sample 1 has no 'text_mask'"):
        model(**data, mode='tensor')
