"""HD-VILA's BERT split (text layers, cross-modal layers) against
``transformers.BertModel`` with the same weights, the visual tokens against
their definition, the token sampling, layer freezing and config errors."""
import pytest
import torch
from transformers import BertConfig, BertModel

from vtg_hd_vila.models.bert_towers import HDVILABert, build_bert_config
from vtg_hd_vila.models.visual_embedding import (VisualInputEmbedding,
                                                 sample_token_indices)

TOL = dict(rtol=1e-10, atol=1e-12)


def _bert(tiny, **kwargs):
    config = build_bert_config(dict(tiny, attn_implementation='eager'))
    torch.manual_seed(0)
    return HDVILABert(config, **kwargs).double().eval(), config


def _reference(tiny, layers, bert_layers, pooler):
    """A ``BertModel`` holding ``layers`` of ours (oracle)."""
    config = BertConfig(
        **dict(tiny, num_hidden_layers=len(layers)),
        attn_implementation='eager')
    ref = BertModel(config).double().eval()
    for i, layer in enumerate(layers):
        ref.encoder.layer[i].load_state_dict(bert_layers[layer].state_dict())
    ref.pooler.load_state_dict(pooler.state_dict())
    return ref


def _text(rows=3, length=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, 64, (rows, length), generator=g)
    mask = torch.ones(rows, length, dtype=torch.long)
    mask[0, 4:], mask[2, 2:] = 0, 0
    return ids.masked_fill(mask == 0, 0), mask


def _grid(rows, h=2, w=3, c=16, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(rows, h, w, c, generator=g, dtype=torch.float64)


def test_text_half_is_bert_with_the_first_half_of_the_layers(tiny_bert_config):
    bert, _ = _bert(tiny_bert_config, cross_modal=True)
    ref = _reference(tiny_bert_config, [0, 1], bert.encoder.layer,
                     bert.pooler1)
    ref.embeddings.load_state_dict(bert.embeddings.state_dict())
    ids, mask = _text()
    out = ref(input_ids=ids, attention_mask=mask)
    states = bert.encode_text(ids, mask)
    assert torch.allclose(states, out.last_hidden_state, **TOL)
    assert torch.allclose(
        bert.pool_text(states, mask, mean=False), out.pooler_output, **TOL)
    avg = (out.last_hidden_state * mask[..., None]).sum(1) / mask.sum(
        1, keepdim=True)
    assert torch.allclose(
        bert.pool_text(states, mask, mean=True),
        torch.tanh(ref.pooler.dense(avg)), **TOL)


def test_cross_modal_half_reads_text_then_visual_tokens(tiny_bert_config):
    bert, _ = _bert(tiny_bert_config, cross_modal=True)
    ref = _reference(tiny_bert_config, [2, 3], bert.encoder.layer,
                     bert.pooler2)
    ids, mask = _text()
    grid = _grid(3)
    text_states = bert.encode_text(ids, mask)
    states, pooled = bert.cross_modal(text_states, mask, grid)
    vis = bert.visual_embeddings
    tokens = (grid + vis.row_position_embeddings.weight[:2, None] +
              vis.col_position_embeddings.weight[None, :3]).reshape(3, 6, 16)
    tokens = vis.LayerNorm(tokens + vis.token_type_embeddings.weight[0])
    hidden = torch.cat([text_states, tokens], 1)
    full_mask = torch.cat([mask, torch.ones(3, 6, dtype=torch.long)], 1)
    extended = ref.get_extended_attention_mask(full_mask, full_mask.shape)
    expected = ref.encoder(hidden, attention_mask=extended).last_hidden_state
    assert states.shape == (3, 12, 16)
    assert torch.allclose(states, expected, **TOL)
    assert torch.allclose(pooled, ref.pooler(expected), **TOL)


def test_every_text_row_meets_every_clip_of_its_video(tiny_bert_config):
    bert, _ = _bert(tiny_bert_config, cross_modal=True)
    ids, mask = _text(rows=4)  # 2 videos x 2 options
    grid = _grid(3 * 2).view(3, 2, 2, 3, 16)  # 3 clips
    text_states = bert.encode_text(ids, mask)
    states, pooled = bert.cross_modal_clips(text_states, mask, grid)
    assert states.shape == (3, 4, 12, 16) and pooled.shape == (3, 4, 16)
    for clip in range(3):
        for row in range(4):
            one, one_pooled = bert.cross_modal(text_states[row:row + 1],
                                               mask[row:row + 1],
                                               grid[clip, row // 2][None])
            assert torch.allclose(states[clip, row], one[0], **TOL)
            assert torch.allclose(pooled[clip, row], one_pooled[0], **TOL)
    with pytest.raises(ValueError, match='evenly'):
        bert.cross_modal_clips(text_states[:3], mask[:3], grid)


def test_text_only_bert_holds_half_the_layers_and_official_names(
        tiny_bert_config):
    text_only, _ = _bert(tiny_bert_config, cross_modal=False)
    assert len(text_only.encoder.layer) == 2
    names = set(text_only.state_dict())
    assert 'encoder.layer.1.attention.self.query.weight' in names
    assert not any(
        n.startswith(('encoder.layer.2', 'visual_embeddings', 'pooler2'))
        for n in names)
    full, _ = _bert(tiny_bert_config, cross_modal=True, text_pooler=False)
    names = set(full.state_dict())
    assert {
        'encoder.layer.3.output.dense.weight',
        'visual_embeddings.row_position_embeddings.weight',
        'visual_embeddings.col_position_embeddings.weight',
        'visual_embeddings.token_type_embeddings.weight',
        'visual_embeddings.LayerNorm.weight', 'pooler2.dense.weight',
        'embeddings.word_embeddings.weight'
    } <= names
    assert not any(n.startswith('pooler1') for n in names)


@pytest.mark.parametrize('spec,frozen', [(-1, []), (0, [0]), (1, [0, 1]),
                                         ([1], [1])])
def test_bert_frozen_stage_freezes_official_layers(tiny_bert_config, spec,
                                                   frozen):
    bert, _ = _bert(tiny_bert_config, cross_modal=True, frozen_layers=spec)
    for i, layer in enumerate(bert.encoder.layer):
        grads = {p.requires_grad for p in layer.parameters()}
        assert grads == {i not in frozen}
    assert all(p.requires_grad for p in bert.embeddings.parameters())
    with pytest.raises(ValueError, match='layers \\[7\\]'):
        _bert(tiny_bert_config, cross_modal=True, frozen_layers=[7])


def test_token_sampling_is_reproducible_and_only_while_training():
    torch.manual_seed(0)
    embed = VisualInputEmbedding(
        16, dropout=0.0, pixel_random_sampling_size=4).double()
    grid = _grid(2)
    embed.eval()
    every = embed(grid)
    assert every.shape == (2, 6, 16)
    embed.train()
    first = embed(grid, torch.Generator().manual_seed(3))
    again = embed(grid, torch.Generator().manual_seed(3))
    keep = sample_token_indices(6, 4, torch.Generator().manual_seed(3))
    assert first.shape == (2, 4, 16) and torch.equal(first, again)
    assert torch.equal(keep, keep.unique())  # sorted, distinct
    assert torch.allclose(first, every[:, keep], **TOL)
    embed.pixel_random_sampling_size = 0
    assert torch.allclose(embed(grid), every, **TOL)


def test_sampling_more_than_the_grid_keeps_every_token():
    assert torch.equal(sample_token_indices(6, 160), torch.arange(6))


def test_visual_embedding_checks_its_grid():
    embed = VisualInputEmbedding(16, max_rows=2, max_cols=3)
    with pytest.raises(ValueError, match='grid \\[N, h, w, C\\]'):
        embed(torch.zeros(2, 3, 16))
    with pytest.raises(ValueError, match='3x3 grid exceeds'):
        embed(torch.zeros(1, 3, 3, 16))
    with pytest.raises(ValueError, match='>= 0'):
        VisualInputEmbedding(16, pixel_random_sampling_size=-1)


def test_bert_config_defaults_to_bert_large_and_rejects_unknown_keys():
    config = build_bert_config({})
    assert (config.hidden_size, config.num_hidden_layers,
            config.num_attention_heads, config.intermediate_size,
            config.vocab_size) == (1024, 24, 16, 4096, 30522)
    assert config.max_grid_row_position_embeddings == 100
    assert config._attn_implementation == 'sdpa'
    with pytest.raises(ValueError, match='unknown keys \\[\'stage\'\\]'):
        build_bert_config(dict(stage=2))
    with pytest.raises(ValueError, match='>= 2'):
        build_bert_config(dict(num_hidden_layers=1))
