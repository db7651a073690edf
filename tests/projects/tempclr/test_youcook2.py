"""YouCook2RetrievalDataset reads the official youcook_val.pkl + annotation
json + per-video features as MMPT's YoucookMetaProcessor /
YoucookVideoProcessor / DSAligner do; items batch through the data
preprocessor."""
import json
import pickle

import numpy as np
import pytest
import torch

import vtg_tempclr.datasets.youcook2 as youcook2_module
from vtg_tempclr.datasets import YouCook2RetrievalDataset
from vtg_tempclr.models import TempCLRDataPreprocessor
from vtg_tempclr.testing_downstream import tiny_youcook2

DIM = 4
LENGTHS = {'Gx_4Kp9sQwE': 50, 'bT3kQ0yUa8M': 20}
DATABASE = {
    'Gx_4Kp9sQwE': {
        'duration': 50.2, 'subset': 'validation', 'recipe_type': '113',
        'annotations': [
            {'segment': [2, 10], 'id': 0, 'sentence': 'cut the onion'},
            {'segment': [12, 48], 'id': 1,
             'sentence': 'add salt and then stir'},
            {'segment': [45, 51], 'id': 2, 'sentence': 'pour water'},
        ]},
    'bT3kQ0yUa8M': {
        'duration': 20.0, 'subset': 'validation', 'recipe_type': '201',
        'annotations': [
            {'segment': [0, 6], 'id': 0, 'sentence': 'heat oil'},
            {'segment': [7, 15], 'id': 1, 'sentence': 'mix the egg'},
        ]},
    'noFeat01': {
        'duration': 9.0, 'subset': 'validation', 'recipe_type': '201',
        'annotations': [{'segment': [0, 3], 'id': 0, 'sentence': 'stir'}]},
}
# pkl order, not annotation order; captions differ from the sentences
RECORDS = [
    {'id': 'Gx_4Kp9sQwE_1', 'caption': 'add salt stir'},
    {'id': 'bT3kQ0yUa8M_0', 'caption': 'heat oil'},
    {'id': 'noFeat01_0', 'caption': 'stir'},
    {'id': 'Gx_4Kp9sQwE_0', 'caption': 'cut onion'},
    {'id': 'Gx_4Kp9sQwE_2', 'caption': 'pour water'},
    {'id': 'bT3kQ0yUa8M_1', 'caption': 'mix egg'},
]
KEPT = ['Gx_4Kp9sQwE_1', 'bT3kQ0yUa8M_0', 'Gx_4Kp9sQwE_0', 'Gx_4Kp9sQwE_2',
        'bT3kQ0yUa8M_1']


@pytest.fixture
def files(tmp_path):
    """The official layout written by hand (pickle list, json database,
    ``features/{video}.npy``); returns the kwargs and the features."""
    (tmp_path / 'youcook_val.pkl').write_bytes(pickle.dumps(RECORDS))
    (tmp_path / 'trainval.json').write_text(
        json.dumps({'database': DATABASE}))
    (tmp_path / 'features').mkdir()
    rng = np.random.default_rng(0)
    feats = {}
    for vid, length in LENGTHS.items():
        feats[vid] = rng.standard_normal((length, DIM)).astype(np.float32)
        np.save(tmp_path / 'features' / f'{vid}.npy', feats[vid])
    kwargs = dict(ann_file='youcook_val.pkl',
                  trainval_annotation='trainval.json',
                  vfeat_dir='features', data_root=str(tmp_path))
    return kwargs, feats


def caption_row(vocab_file, words):
    """``[CLS] [SEP] words [SEP] [PAD]...`` (64 ids) from the vocab file."""
    vocab = vocab_file.read_text().split()
    ids = [vocab.index('[CLS]'), vocab.index('[SEP]')]
    ids += [vocab.index(w) for w in words] + [vocab.index('[SEP]')]
    return ids + [vocab.index('[PAD]')] * (64 - len(ids))


def official_video_row(feat, start, end, max_video_len=32):
    """YoucookVideoProcessor cuts ``feat[start:end]``; DSAligner keeps the
    first ``min(len, max_video_len)`` rows, zero-padded."""
    clip = feat[start:end]
    n = min(len(clip), max_video_len)
    row = np.zeros((max_video_len, feat.shape[1]), np.float32)
    row[:n] = clip[:n]
    return row, np.arange(max_video_len) < n


def test_records_order_ids_and_filtering(files, tiny_vocab, monkeypatch):
    logged = []
    monkeypatch.setattr(youcook2_module, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    kwargs, _ = files
    ds = YouCook2RetrievalDataset(vocab_file=tiny_vocab, **kwargs)
    samples = [ds[i]['data_samples'] for i in range(len(ds))]
    assert [s.qid for s in samples] == KEPT
    assert [s.video_id for s in samples] == [k.rsplit('_', 1)[0] for k in KEPT]
    assert [s.clip_id for s in samples] == [1, 0, 0, 2, 1]
    assert [s.sample_idx for s in samples] == list(range(5))
    assert all((s.num_video_rows, s.num_text_rows) == (1, 1) for s in samples)
    assert len(logged) == 1 and 'dropped 1 of 6' in logged[0]


def test_video_rows_follow_the_official_cut(files, tiny_vocab):
    kwargs, feats = files
    ds = YouCook2RetrievalDataset(vocab_file=tiny_vocab, **kwargs)
    for i, qid in enumerate(KEPT):
        vid, clip = qid.rsplit('_', 1)
        start, end = DATABASE[vid]['annotations'][int(clip)]['segment']
        row, mask = official_video_row(feats[vid], start, end)
        inputs = ds[i]['inputs']
        assert inputs['vfeats'].shape == (1, 32, DIM)
        np.testing.assert_array_equal(inputs['vfeats'][0].numpy(), row)
        assert inputs['vmasks'][0].tolist() == mask.tolist(), qid
    # segment [12, 48) is 36 s: the row holds its first 32 s;
    # [45, 51) overruns the 50 rows by one: rows 45..49
    assert ds[0]['inputs']['vmasks'].sum() == 32
    assert ds[3]['inputs']['vmasks'].sum() == 5


@pytest.mark.parametrize('use_annotation_text', [True, False])
def test_caption_rows(files, tiny_vocab, use_annotation_text):
    kwargs, _ = files
    ds = YouCook2RetrievalDataset(
        vocab_file=tiny_vocab, use_annotation_text=use_annotation_text,
        **kwargs)
    captions = {r['id']: r['caption'] for r in RECORDS}
    for i, qid in enumerate(KEPT):
        vid, clip = qid.rsplit('_', 1)
        text = (DATABASE[vid]['annotations'][int(clip)]['sentence']
                if use_annotation_text else captions[qid])
        expected = caption_row(tiny_vocab, text.split())
        inputs = ds[i]['inputs']
        assert inputs['caps'][0].tolist() == expected
        assert inputs['cmasks'][0].sum() == len(text.split()) + 3


def test_items_batch_through_the_data_preprocessor(files, tiny_vocab):
    kwargs, _ = files
    ds = YouCook2RetrievalDataset(vocab_file=tiny_vocab, **kwargs)
    items = [ds[i] for i in (2, 0, 4)]
    out = TempCLRDataPreprocessor()(
        dict(inputs=[it['inputs'] for it in items],
             data_samples=[it['data_samples'] for it in items]))
    assert out['inputs']['vfeats'].shape == (3, 32, DIM)
    assert out['inputs']['caps'].shape == (3, 64)
    for key in ('vfeats', 'vmasks', 'caps', 'cmasks'):
        assert torch.equal(out['inputs'][key],
                           torch.cat([it['inputs'][key] for it in items]))
    assert [s.qid for s in out['data_samples']] == [KEPT[i] for i in (2, 0, 4)]


def test_tiny_writer_files_load(tmp_path, tiny_vocab):
    """The synthetic writer's layout is the one the dataset reads: every
    clip of :func:`tiny_youcook2` becomes an item, videos whose id holds
    ``_`` included."""
    kwargs = tiny_youcook2(tmp_path, dim=DIM)
    ds = YouCook2RetrievalDataset(vocab_file=tiny_vocab, **kwargs)
    assert len(ds) == 7
    assert ds[0]['data_samples'].video_id == 'Gx_4Kp9sQwE'
    assert ds[1]['inputs']['vmasks'].sum() == 32  # a 36 s clip
