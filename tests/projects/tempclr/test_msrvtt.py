"""MSRVTTRetrievalDataset reads MMPT's MSRVTT_JSFUSION_test.csv (columns
video_id, sentence) and ``{video_id}.npy`` features as MMPT's
MSRVTTMetaProcessor / VideoProcessor / DSAligner do."""
import numpy as np
import pytest

from vtg_tempclr.datasets import MSRVTTRetrievalDataset
from vtg_tempclr.models import TempCLRDataPreprocessor
from vtg_tempclr.testing_downstream import tiny_msrvtt

DIM = 3
LENGTHS = {'video7010': 12, 'video7011': 40, 'video7012': 32}
LONG = ' '.join(['stir'] * 70)  # past the 61 text tokens of a row
# the official file's header and quoting; a sentence holding a comma;
# video7010 is paired twice
CSV = ('key,vid_key,video_id,sentence\n'
       'ret0,msr7010,video7010,a man opens the door\n'
       'ret1,msr7011,video7011,"cut the onion, then stir"\n'
       f'ret2,msr7012,video7012,{LONG}\n'
       'ret3,msr7010,video7010,pour water into the pan\n')
# (',' is not in the tiny vocabulary: BERT makes it [UNK])
SENTENCES = ['a man opens the door', 'cut the onion , then stir', LONG,
             'pour water into the pan']
VIDEOS = ['video7010', 'video7011', 'video7012', 'video7010']


@pytest.fixture
def files(tmp_path):
    (tmp_path / 'MSRVTT_JSFUSION_test.csv').write_text(CSV)
    (tmp_path / 'feat').mkdir()
    rng = np.random.default_rng(0)
    feats = {}
    for vid, length in LENGTHS.items():
        feats[vid] = rng.standard_normal((length, DIM)).astype(np.float32)
        np.save(tmp_path / 'feat' / f'{vid}.npy', feats[vid])
    return dict(ann_file='MSRVTT_JSFUSION_test.csv', vfeat_dir='feat',
                data_root=str(tmp_path)), feats


def test_pairs_in_file_order(files, tiny_vocab):
    kwargs, _ = files
    ds = MSRVTTRetrievalDataset(vocab_file=tiny_vocab, **kwargs)
    samples = [ds[i]['data_samples'] for i in range(len(ds))]
    assert [s.video_id for s in samples] == VIDEOS
    assert [s.qid for s in samples] == [0, 1, 2, 3]


def test_rows_match_the_official_aligner(files, tiny_vocab):
    kwargs, feats = files
    ds = MSRVTTRetrievalDataset(vocab_file=tiny_vocab, **kwargs)
    vocab = tiny_vocab.read_text().split()
    for i, (vid, sentence) in enumerate(zip(VIDEOS, SENTENCES)):
        inputs = ds[i]['inputs']
        n = min(len(feats[vid]), 32)  # DSAligner: rows 0..min(T, 32)
        row = np.zeros((32, DIM), np.float32)
        row[:n] = feats[vid][:n]
        np.testing.assert_array_equal(inputs['vfeats'][0].numpy(), row)
        assert inputs['vmasks'][0].tolist() == [True] * n + [False] * (32 - n)
        ids = [vocab.index(w if w in vocab else '[UNK]')
               for w in sentence.split()][:61]
        expected = [2, 3] + ids + [3]
        expected += [0] * (64 - len(expected))
        assert inputs['caps'][0].tolist() == expected, sentence
        assert inputs['cmasks'][0].tolist() == [x != 0 for x in expected]


def test_items_batch_through_the_data_preprocessor(files, tiny_vocab):
    kwargs, _ = files
    ds = MSRVTTRetrievalDataset(vocab_file=tiny_vocab, **kwargs)
    items = [ds[i] for i in range(4)]
    out = TempCLRDataPreprocessor()(
        dict(inputs=[it['inputs'] for it in items],
             data_samples=[it['data_samples'] for it in items]))
    assert out['inputs']['vfeats'].shape == (4, 32, DIM)
    assert out['inputs']['cmasks'].shape == (4, 64)
    assert [s.qid for s in out['data_samples']] == [0, 1, 2, 3]


def test_csv_with_an_index_column(tmp_path, files, tiny_vocab):
    """pandas' ``to_csv`` writes an unnamed index column first; MMPT reads
    such files by column name, and so do we."""
    kwargs, _ = files
    lines = CSV.splitlines()
    indexed = [',' + lines[0]] + [f'{i},{line}'
                                  for i, line in enumerate(lines[1:])]
    (tmp_path / 'indexed.csv').write_text('\n'.join(indexed) + '\n')
    ds = MSRVTTRetrievalDataset(
        vocab_file=tiny_vocab, **{**kwargs, 'ann_file': 'indexed.csv'})
    assert [ds[i]['data_samples'].video_id for i in range(4)] == VIDEOS


def test_tiny_writer_files_load(tmp_path, tiny_vocab):
    kwargs = tiny_msrvtt(tmp_path, dim=DIM)
    ds = MSRVTTRetrievalDataset(vocab_file=tiny_vocab, **kwargs)
    assert len(ds) == 4
    assert ds[1]['inputs']['vmasks'].sum() == 32  # a 40 s video
    assert ds[2]['inputs']['vmasks'].sum() == 9
