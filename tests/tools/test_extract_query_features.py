"""End to end: query features alone with tools/data/extract_feat.py
(``--queries-only``), in the recipe the tiny GroundNLQ config states
(``query_recipe``: ``between_sot_eot_ln_final_max30`` + canonical question;
its ``recipe``'s ``clip_len``) or in flags, from official Ego4D NLQ jsons and
a random-init tiny CLIP, read back by the official reader rule and by the
config's datasets and model."""
import importlib.util
import io
import json
import zipfile
from pathlib import Path

import lmdb
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from open_clip.tokenizer import SimpleTokenizer

from vtg_plugins.datasets import load_ego4d_nlq_json
from vtg_plugins.datasets.feature_stores import DirectoryStore, LMDBStore
from vtg_plugins.features.text_normalizers import canonical_question
from vtg_plugins.registry import DATASETS, MODELS
from vtg_plugins.testing import feature_pipeline as H
from vtg_plugins.testing import make_ego4d_nlq

LN_FINAL = 'between_sot_eot_ln_final_max30'

REPO = Path(__file__).resolve().parents[2]
CONFIG = (
    REPO / 'configs' / 'groundnlq' /
    'groundnlq_tiny_1xb2-3e_synthetic-ego4d-nlq.py')
_spec = importlib.util.spec_from_file_location(
    'extract_feat', REPO / 'tools' / 'data' / 'extract_feat.py')
FEAT = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(FEAT)


@pytest.fixture(scope='module')
def nlq(tmp_path_factory):
    root = tmp_path_factory.mktemp('gnlq')
    data = make_ego4d_nlq(
        root,
        splits=dict(train=2, val=2),
        vid_dim=64,
        txt_dim=32,
        num_feats=(20, 24),
        seed=3)
    H.save_tiny_checkpoint(root / 'clip.pt')
    (root / 'tiny.json').write_text(json.dumps(H.TINY_CLIP))
    return data


def _run(data, anns, *extra, config=CONFIG):
    """Queries only, in the recipe of ``config`` (None: flags only)."""
    return FEAT.main([
        *map(str, anns), '--queries-only',
        *(['--config', str(config)] if config else []), '--checkpoint',
        str(data.root / 'clip.pt'), '--model-config',
        str(data.root / 'tiny.json'), *map(str, extra)
    ])


@torch.no_grad()
def _official(model, text):
    """CONE ``encode_text`` tokens 1 .. valid_len - 2 (no '!' here)."""
    tokens = SimpleTokenizer()([text])
    x = model.token_embedding(tokens) + model.positional_embedding
    for blk in model.transformer.resblocks:
        x = blk(x, attn_mask=model.attn_mask)
    n = int((tokens != 0).sum())
    return model.ln_final(x)[0, 1:n - 1].numpy()


def test_queries_only_lmdb_read_by_groundnlq_config(nlq, capsys):
    anns = [nlq.extra['nlq_train'], nlq.extra['nlq_val']]
    store = nlq.root / 'lmdb' / 'clip_text'
    # the config gives the recipe, the LMDB backend and the nested format
    assert _run(nlq, anns, '--query-store', store, '--compress') == 0
    assert 'done: 8 queries' in capsys.readouterr().out
    records = [r for a in anns for r in load_ego4d_nlq_json(a)]
    model = H.save_tiny_checkpoint(nlq.root / 'same.pt')
    # the official reader: npz value, 'token_features', savez_compressed
    env = lmdb.open(str(store), readonly=True, lock=False)
    with env.begin() as txn:
        assert txn.stat()['entries'] == len(records) == 8
        for rec in records:
            value = txn.get(rec.qid.encode())
            with zipfile.ZipFile(io.BytesIO(value)) as zf:
                assert zf.infolist()[0].compress_type == zipfile.ZIP_DEFLATED
            feat = np.load(io.BytesIO(value))['token_features']
            ref = _official(model, canonical_question(rec.query))
            assert feat.dtype == np.float32 and feat.shape == ref.shape
            np.testing.assert_allclose(feat, ref, rtol=1e-5, atol=1e-5)
    env.close()
    meta = LMDBStore(store).meta
    assert (meta['text_tokens'],
            meta['text_normalizer']) == (LN_FINAL, 'canonical_question')
    assert (meta['layout'], meta['layers'], meta['dtype']) == ('[L, C]', [3],
                                                               'float32')
    assert meta['clip_len'] == pytest.approx(16.043 / 30, rel=1e-12)
    assert 'crop' not in meta and len(meta['weights_hash']) == 64

    # the tiny GroundNLQ config reads them (keys, recipe check, shapes)
    import vtg_groundnlq  # noqa: F401
    cfg = Config.fromfile(str(CONFIG))
    init_default_scope(cfg.default_scope)
    built = {}
    for split in ('train', 'val'):
        ds_cfg = cfg[f'{split}_dataloader'].dataset
        ds_cfg.data_root = f'{nlq.root}/'
        ds_cfg.query_store = dict(type='LMDBStore', root=str(store))
        built[split] = DATASETS.build(ds_cfg)
    assert len(built['train']) == len(built['val']) == 4
    val = built['val']
    for i in range(len(val)):
        info = val.get_data_info(i)
        query = val[i]['inputs']['query']
        assert torch.equal(query,
                           torch.from_numpy(LMDBStore(store)[info['qid']]))
    torch.manual_seed(0)
    gnlq = MODELS.build(cfg.model)
    batch = pseudo_collate([built['train'][i] for i in range(2)])
    losses = gnlq(**gnlq.data_preprocessor(batch, True), mode='loss')
    assert torch.isfinite(losses['loss_cls'] + losses['loss_reg'])

    # complete: nothing to do; the same recipe in flags is the same store
    assert _run(nlq, anns, '--query-store', store, '--compress') == 0
    assert 'complete (8 queries)' in capsys.readouterr().out
    assert _run(
        nlq,
        anns,
        '--query-store',
        store,
        '--text-tokens',
        LN_FINAL,
        '--k',
        '1',
        '--dtype',
        'float32',
        '--text-normalizer',
        'canonical_question',
        '--fps',
        '30/16.043',
        '--backend',
        'lmdb',
        '--ann-format',
        'ego4d_nlq_json',
        config=None) == 0
    assert 'complete (8 queries)' in capsys.readouterr().out
    # another text recipe (a flag overrides the config's) is refused
    with pytest.raises(ValueError, match='text_normalizer: store has'):
        _run(nlq, anns, '--query-store', store, '--text-normalizer', 'none')


def _write_jsonl(path, rows):
    path.write_text(''.join(
        json.dumps(
            dict(
                qid=q,
                vid='v1',
                query=t,
                duration=10.0,
                windows=[[0, 1]],
                clip_len=1.0)) + '\n' for q, t in rows))
    return path


def test_normalized_queries_cut_and_conflicts(nlq, tmp_path, capsys):
    long = ' '.join(f'w{i}' for i in range(40))
    a = _write_jsonl(tmp_path / 'a.jsonl', [('q1', 'Where is it?'),
                                            ('q2', long)])
    b = _write_jsonl(tmp_path / 'b.jsonl', [('q1', 'Where is it?'),
                                            ('q3', 'a cup.')])
    # several files, a qid repeated with the same text, dir backend; the
    # store is named by its recipe
    assert _run(nlq, [a, b], '--backend', 'dir', '--out-dir', tmp_path,
                '--ann-format', 'normalized') == 0
    assert '1 queries have more than 30 BPE tokens' in capsys.readouterr().out
    store = DirectoryStore(tmp_path /
                           f'clip_b32_txt_k1_{LN_FINAL}_canonical_question')
    assert sorted(store.keys()) == ['q1', 'q2', 'q3']
    # 'where is it?' / 'a cup?' (normalized) / 30 kept of the long one
    assert [store[q].shape for q in ('q1', 'q2', 'q3')] == [(4, 32), (30, 32),
                                                            (3, 32)]
    assert store.meta['clip_len'] == pytest.approx(16.043 / 30)  # config's
    assert store.meta['layout'] == '[L, C]' and 'crop' not in store.meta
    # flags only: no rate, no frame fields; compressed .npz files
    assert _run(
        nlq, [a],
        '--text-tokens',
        LN_FINAL,
        '--k',
        '1',
        '--out-dir',
        tmp_path / 'flags',
        '--compress',
        config=None) == 0
    flags = DirectoryStore(tmp_path / 'flags' / f'clip_b32_txt_k1_{LN_FINAL}')
    assert 'fps' not in flags.meta and flags.meta['text_normalizer'] is None
    assert flags.path_of('q1').suffix == '.npz'
    assert flags['q1'].dtype == np.float16 and flags['q1'].shape == (4, 32)
    # the same qid with another text: error naming both files
    c = _write_jsonl(tmp_path / 'c.jsonl', [('q3', 'a knife')])
    with pytest.raises(
            ValueError,
            match="'q3' is 'a cup.' in .*b.jsonl but "
            "'a knife' in .*c.jsonl"):
        _run(nlq, [a, b, c], '--out-dir', tmp_path / 'x', '--ann-format',
             'normalized')
    with pytest.raises(ValueError, match='k must be 1, got 2'):
        _run(nlq, [a], '--k', '2', '--out-dir', tmp_path / 'x', '--ann-format',
             'normalized')
    # the video features of the config are not CLIP's
    with pytest.raises(
            ValueError,
            match=r"not CLIP features \(backbone 'internvideo\+egovlp'\)"):
        FEAT.main([
            str(a),
            str(tmp_path), '--config',
            str(CONFIG), '--checkpoint',
            str(nlq.root / 'clip.pt'), '--ann-format', 'normalized'
        ])
    with pytest.raises(ValueError, match='compression applies to'):
        _run(nlq, [a], '--backend', 'packed', '--compress', '--out-dir',
             tmp_path / 'x', '--ann-format', 'normalized')
    with pytest.raises(SystemExit):  # SRC is required without it
        FEAT.main([str(a), '--checkpoint', str(nlq.root / 'clip.pt')])
    assert 'give the annotation file(s) and SRC' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _run(nlq, [a], '--fps', '30/0')
    assert not (tmp_path / 'x').exists()
