"""End to end: tools/data/extract_frames.py and extract_feat.py on tiny
videos written with PyAV and a random-init tiny CLIP, with flags or with the
recipe and stores a config's datasets state."""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mmengine.config import Config
from mmengine.registry import init_default_scope

from vtg_plugins.datasets.feature_stores import (DirectoryStore, LMDBStore,
                                                 PackedStore)
from vtg_plugins.registry import DATASETS
from vtg_plugins.testing import feature_pipeline as H
from vtg_plugins.testing.configs import write_config

REPO = Path(__file__).resolve().parents[2]
QVH = REPO / 'configs' / 'r2_tuning' / \
    'r2_tuning_clip-b32_1xb128-30e_qvhighlights.py'


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FRAMES = _load('extract_frames', REPO / 'tools' / 'data' / 'extract_frames.py')
FEAT = _load('extract_feat', REPO / 'tools' / 'data' / 'extract_feat.py')
# video id -> (seconds, fps); at 0.5 fps: round(seconds / 2) clips
VIDEOS = {'v1': (6, 10), 'v2': (4.6, 25), 'v3': (2, 30)}
NUM_CLIPS = {'v1': 3, 'v2': 2, 'v3': 1}
QUERIES = [('q1', 'v1', 'a red thing appears'), ('q2', 'v1', 'green'),
           ('q3', 'v2', 'a dog runs on the grass'), ('q4', 'v3', 'blue sky')]


@pytest.fixture
def data(tmp_path):
    videos = tmp_path / 'videos'
    videos.mkdir()
    for vid, (sec, fps) in VIDEOS.items():
        H.write_video(videos / f'{vid}.mp4', sec, fps)
    H.save_tiny_checkpoint(tmp_path / 'clip.pt')
    (tmp_path / 'tiny.json').write_text(json.dumps(H.TINY_CLIP))
    _write_ann(tmp_path / 'ann.jsonl', QUERIES)
    return tmp_path


def _write_ann(path, queries):
    with open(path, 'w') as f:
        for qid, vid, query in queries:
            f.write(
                json.dumps(
                    dict(
                        qid=qid,
                        vid=vid,
                        query=query,
                        duration=6.0,
                        windows=[[0, 2]],
                        clip_len=2.0)) + '\n')


def _feat(root, src, *extra):
    return FEAT.main([
        str(root / 'ann.jsonl'),
        str(src), '--checkpoint',
        str(root / 'clip.pt'), '--model-config',
        str(root / 'tiny.json'), '--k', '2', '--workers', '0',
        *map(str, extra)
    ])


def test_frames_then_features_dir_store(data, capsys):
    assert FRAMES.main([str(data / 'videos'), '--workers', '1']) == 0
    frame_dir = data / 'frames_224_0.5fps'  # official default name
    for vid, n in NUM_CLIPS.items():
        frames = np.load(frame_dir / f'{vid}.npy')
        assert frames.dtype == np.uint8 and frames.shape == (n, 3, 224, 224)
    meta = json.loads((frame_dir / 'meta.json').read_text())
    assert (meta['fps'], meta['crop']) == (0.5, 224)

    assert _feat(data, frame_dir) == 0
    vid_store = DirectoryStore(data / 'clip_b32_vid_k2')
    txt_store = DirectoryStore(data / 'clip_b32_txt_k2')
    model = H.save_tiny_checkpoint(data / 'same.pt')  # the same weights
    for vid, n in NUM_CLIPS.items():
        feat = vid_store[vid]
        assert feat.dtype == np.float16 and feat.shape == (n, 2, 50, 64)
        # == a direct forward of the CLIP model on the same frames
        images = H.normalize(np.load(frame_dir / f'{vid}.npy'))
        ref = H.reference_video_features(model, images, 2).numpy()
        np.testing.assert_allclose(
            feat.astype(np.float32),
            ref.astype(np.float16),
            rtol=2e-3,
            atol=2e-3)
        # official reader: view [T, k*P*C], the model views [k, T, P, C]
        flat = torch.from_numpy(feat).view(n, -1)
        official = flat.view(1, n, -1, 50, 64).permute(2, 0, 1, 3, 4)
        assert torch.equal(official[1, 0], torch.from_numpy(feat[:, 1]))
    tokenizer = _tokenizer()
    for qid, _, query in QUERIES:
        feat = txt_store[qid]
        tokens = tokenizer([query])
        n = len(tokenizer.encode(query)) + 2  # SOT ... EOT
        ref = H.reference_text_features(model, tokens, 2)[0, :n].numpy()
        assert feat.dtype == np.float16 and feat.shape == (n, 2, 32)
        np.testing.assert_allclose(
            feat.astype(np.float32),
            ref.astype(np.float16),
            rtol=2e-3,
            atol=2e-3)
    for store, layout in ((vid_store, '[T, k, P, C]'), (txt_store,
                                                        '[L, k, C]')):
        assert store.meta['layout'] == layout
        assert store.meta['backbone'] == 'ViT-B/32'
        assert store.meta['layers'] == [2, 3] and store.meta['fps'] == 0.5
        assert store.meta['sampling'] == meta['sampling']
        assert len(store.meta['weights_hash']) == 64
    assert sorted(p.name for p in data.iterdir()
                  if p.name.startswith('clip_b32')) == [
                      'clip_b32_txt_k2', 'clip_b32_vid_k2'
                  ]


def _qvh_config(root, clip_len=2.0):
    """The official QVHighlights config, its datasets on ``root`` with a
    recipe of the tiny CLIP's last 2 blocks at ``1 / clip_len`` fps and
    normalized annotations."""
    ds = dict(
        data_root=f'{root}/',
        ann_file='ann.jsonl',
        ann_format='normalized',
        ann_kwargs=dict(_delete_=True),  # the format has no options
        recipe=dict(
            layers=[2, 3],
            clip_len=clip_len,
            dtype='float16',
            model_cfg=H.TINY_CLIP))
    return write_config(
        root / f'qvh_{clip_len}.py', QVH,
        f'train_dataloader = dict(dataset=dict(dataset={ds!r}))\n'
        f'val_dataloader = dict(dataset={ds!r})')


def test_recipe_and_stores_from_a_config(data, capsys):
    """``--config``: k, dtype, the CLIP config, the official store names
    and backend, the annotation format come from the config's datasets."""
    assert FRAMES.main([str(data / 'videos'), '--workers', '1']) == 0
    frame_dir = data / 'frames_224_0.5fps'
    cfg = _qvh_config(data)
    assert FEAT.main([
        str(data / 'ann.jsonl'),
        str(frame_dir), '--config',
        str(cfg), '--checkpoint',
        str(data / 'clip.pt'), '--workers', '0'
    ]) == 0
    vid_store = DirectoryStore(data / 'clip_b32_vid_k4')  # config's names
    txt_store = DirectoryStore(data / 'clip_b32_txt_k4')
    assert _feat(data, frame_dir, '--out-dir', data / 'flags') == 0
    for store, flags in ((vid_store, 'clip_b32_vid_k2'), (txt_store,
                                                          'clip_b32_txt_k2')):
        ref = DirectoryStore(data / 'flags' / flags)
        assert sorted(store.keys()) == sorted(ref.keys())
        for key in ref.keys():
            np.testing.assert_array_equal(store[key], ref[key])
        assert store.meta == ref.meta
    assert vid_store.meta['layers'] == [2, 3]
    # the config's datasets accept the stores (their recipe check)
    init_default_scope('vtg_plugins')
    ds_cfg = Config.fromfile(str(cfg)).val_dataloader.dataset
    ds = DATASETS.build(dict(ds_cfg, pipeline=[]))
    assert len(ds) == len(QUERIES)
    # a config at another rate: the frames' run is refused before any work
    capsys.readouterr()
    with pytest.raises(
            ValueError, match='clip_len: store has 2.0, expected 1.0'):
        FEAT.main([
            str(data / 'ann.jsonl'),
            str(frame_dir), '--config',
            str(_qvh_config(data, clip_len=1.0)), '--checkpoint',
            str(data / 'clip.pt'), '--out-dir',
            str(data / 'other')
        ])
    assert not (data / 'other').exists()
    # ... while the videos are decoded at the config's rate
    assert FEAT.main([
        str(data / 'ann.jsonl'),
        str(data / 'videos'), '--config',
        str(_qvh_config(data, clip_len=1.0)), '--checkpoint',
        str(data / 'clip.pt'), '--out-dir',
        str(data / 'one_fps'), '--workers', '0'
    ]) == 0
    one_fps = DirectoryStore(data / 'one_fps' / 'clip_b32_vid_k2')
    assert one_fps.meta['fps'] == 1.0 and one_fps['v1'].shape[0] == 6


def _tokenizer():
    from open_clip.tokenizer import SimpleTokenizer
    return SimpleTokenizer()


@pytest.mark.parametrize('backend,reader', [('packed', PackedStore),
                                            ('lmdb', LMDBStore)])
def test_videos_directly_into_other_backends(data, backend, reader):
    """Decoding the videos on the fly gives the same features as the frame
    directory, in any store backend."""
    assert FRAMES.main([str(data / 'videos'), '--workers', '1']) == 0
    assert _feat(data, data / 'frames_224_0.5fps') == 0
    assert _feat(data, data / 'videos', '--backend', backend, '--out-dir',
                 data / backend, '--video-backend', 'pyav') == 0
    ref = DirectoryStore(data / 'clip_b32_vid_k2')
    vid_store = reader(data / backend / 'clip_b32_vid_k2')
    txt_store = reader(data / backend / 'clip_b32_txt_k2')
    assert sorted(vid_store.keys()) == sorted(VIDEOS)
    for vid in VIDEOS:
        np.testing.assert_array_equal(vid_store[vid], ref[vid])
    ref_txt = DirectoryStore(data / 'clip_b32_txt_k2')
    for qid, _, _ in QUERIES:
        np.testing.assert_array_equal(txt_store[qid], ref_txt[qid])
    assert vid_store.meta == ref.meta


def test_resume_and_recipe_checks(data, capsys):
    frame_dir = data / 'frames_224_0.5fps'
    assert FRAMES.main([str(data / 'videos'), '--workers', '1']) == 0
    stamp = (frame_dir / 'v1.npy').stat().st_mtime_ns
    (frame_dir / 'v2.npy').unlink()
    capsys.readouterr()
    assert FRAMES.main([str(data / 'videos'), '--workers', '1']) == 0
    assert '2 already done, 1 to extract' in capsys.readouterr().out
    assert (frame_dir / 'v1.npy').stat().st_mtime_ns == stamp
    assert (frame_dir / 'v2.npy').exists()
    with pytest.raises(ValueError, match='frames of another recipe'):
        FRAMES.main([
            str(data / 'videos'), '--frame-dir',
            str(frame_dir), '--fps', '1.0'
        ])

    # features for v1 only, then the full annotation: only the rest is added
    full = data / 'ann.jsonl'
    _write_ann(data / 'ann.jsonl', QUERIES[:2])
    assert _feat(data, frame_dir) == 0
    store = data / 'clip_b32_vid_k2'
    stamp = (store / 'v1.npy').stat().st_mtime_ns
    _write_ann(full, QUERIES)
    capsys.readouterr()
    assert _feat(data, frame_dir) == 0
    out = capsys.readouterr().out
    assert 'reopening to add 2 missing items' in out
    assert 'videos (frames) -> ' in out and '2 to extract' in out
    assert (store / 'v1.npy').stat().st_mtime_ns == stamp
    assert sorted(DirectoryStore(store).keys()) == ['v1', 'v2', 'v3']
    assert not store.with_name(store.name + '.partial').exists()
    # complete: nothing to do
    assert _feat(data, frame_dir) == 0
    assert 'complete (3 videos)' in capsys.readouterr().out

    # an interrupted run leaves STORE.partial and the next run resumes it
    part = data / 'p'
    (part / 'clip_b32_vid_k2.partial').mkdir(parents=True)
    (part / 'clip_b32_vid_k2.partial' / 'meta.json').write_text(
        (store / 'meta.json').read_text())
    np.save(part / 'clip_b32_vid_k2.partial' / 'v1.npy',
            np.full((3, 2, 50, 64), 7, np.float16))
    assert _feat(data, frame_dir, '--out-dir', part) == 0
    assert (DirectoryStore(part / 'clip_b32_vid_k2')['v1'] == 7).all()

    # other weights (hash): refused, naming both recipes; --overwrite
    old = DirectoryStore(store)['v1']
    H.save_tiny_checkpoint(data / 'clip.pt', seed=5)
    with pytest.raises(ValueError, match='weights_hash: store has'):
        _feat(data, frame_dir)
    assert _feat(data, frame_dir, '--overwrite') == 0
    new = DirectoryStore(store)
    assert new['v1'].shape == old.shape and not np.allclose(new['v1'], old)
    assert sorted(new.keys()) == ['v1', 'v2', 'v3']


def test_bad_inputs(data, capsys):
    videos = data / 'videos'
    (videos / 'broken.mp4').write_bytes(b'\x00' * 100)
    assert FRAMES.main([str(videos), '--workers', '1']) == 1
    err = capsys.readouterr().err
    assert '1 of 4 videos failed' in err and 'broken.mp4' in err
    assert not (data / 'frames_224_0.5fps' / 'broken.npy').exists()

    # batch feature extraction from videos: report, continue, exit 1
    _write_ann(data / 'ann.jsonl', QUERIES + [('q5', 'broken', 'x'),
                                              ('q6', 'absent', 'y')])
    assert _feat(data, videos) == 1
    err = capsys.readouterr().err
    assert '2 of 5 videos failed' in err
    assert 'broken.mp4: VideoDecodeError: cannot decode video' in err
    assert 'absent: no video or frames' in err
    store = DirectoryStore(data / 'clip_b32_vid_k2')
    assert sorted(store.keys()) == ['v1', 'v2', 'v3']
    # fixed video: the next run adds just that one
    H.write_video(videos / 'broken.mp4', 2, 10)
    _write_ann(data / 'ann.jsonl', QUERIES + [('q5', 'broken', 'x')])
    assert _feat(data, videos) == 0
    assert DirectoryStore(data / 'clip_b32_vid_k2')['broken'].shape[0] == 1

    # a query longer than the text context: error naming it, before any work
    _write_ann(data / 'long.jsonl', [('long-q', 'v1', 'word ' * 80)])
    with pytest.raises(ValueError, match="'long-q' \\(82 tokens\\)"):
        FEAT.main([
            str(data / 'long.jsonl'),
            str(videos), '--checkpoint',
            str(data / 'clip.pt'), '--model-config',
            str(data / 'tiny.json'), '--k', '2', '--out-dir',
            str(data / 'long')
        ])
    assert not (data / 'long').exists()
    # frames of the wrong size are reported per video
    bad_frames = data / 'badframes'
    bad_frames.mkdir()
    np.save(bad_frames / 'v1.npy', np.zeros((2, 3, 112, 112), np.uint8))
    _write_ann(data / 'ann.jsonl', QUERIES[:1])
    assert _feat(data, bad_frames, '--fps', '0.5', '--out-dir',
                 data / 'bf') == 1
    assert 'expected uint8 [T, 3, 224, 224] frames' in capsys.readouterr().err


@pytest.mark.slow
def test_cli_subprocesses(data, run_cmd):
    """The scripts as users run them: worker processes, exit codes."""
    run_cmd([
        sys.executable, REPO / 'tools/data/extract_frames.py', data / 'videos',
        '--workers', '2'
    ])
    proc = run_cmd([
        sys.executable, REPO / 'tools/data/extract_feat.py',
        data / 'ann.jsonl', data / 'frames_224_0.5fps', '--checkpoint',
        data / 'clip.pt', '--model-config', data / 'tiny.json', '--k', '2',
        '--workers', '2'
    ])
    assert 'done: 3 videos' in proc.stdout
    assert DirectoryStore(data / 'clip_b32_vid_k2')['v1'].shape == (3, 2, 50,
                                                                    64)
