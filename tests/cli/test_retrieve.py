"""``vtg retrieve`` on tiny random-init dual encoders: HD-VILA over PyAV
videos, TempCLR over feature files. Each example runs as written on the
test's stand-ins for its files, and the rankings equal those of
``encode_video`` / ``encode_text`` / ``similarity`` called directly; bad
directories and files exit 1 naming them."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils import import_modules_from_strings

from vtg_hd_vila.testing import make_retrieval_data
from vtg_plugins.apis import (encode_text, encode_video, init_dual_encoder,
                              similarity)
from vtg_plugins.cli import retrieve
from vtg_plugins.registry import MODELS
from vtg_plugins.testing import write_config
from vtg_tempclr.testing_downstream import write_vocab

REPO = Path(__file__).resolve().parents[2]
HD_VILA_EXAMPLE, TEMPCLR_EXAMPLE = 0, 1
TEMPCLR_DIM = 32  # the tiny config's input_dim


def _save_random_checkpoint(cfg_path: Path, out: Path, init=None) -> None:
    cfg = Config.fromfile(str(cfg_path))
    import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.default_scope)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    if init is not None:
        with torch.no_grad():
            init(model)
    torch.save(dict(state_dict=model.state_dict(), meta={}), out)


def _spread_hd_vila(model) -> None:
    """Scores of different inputs far apart (BERT's 0.02 init makes them
    close; the TimeSformer ``temporal_fc`` starts at zero)."""
    for name, p in model.named_parameters():
        if name.startswith('transformer.') or 'temporal_fc' in name:
            torch.nn.init.normal_(p, std=0.5)


@pytest.fixture(scope='module')
def hd_vila(tmp_path_factory, example_words):
    """The example's tiny HD-VILA config on 4 tiny videos, with a random
    checkpoint."""
    root = tmp_path_factory.mktemp('hd_vila')
    words = example_words(retrieve, HD_VILA_EXAMPLE)
    data = make_retrieval_data(root / 'retrieval')
    cfg = write_config(
        root / 'hd_vila.py', REPO / words[2],
        f'test_dataloader = dict(dataset=dict('
        f'vocab_file={data.vocab_file!r}))')
    _save_random_checkpoint(cfg, root / 'hd_vila.pth', _spread_hd_vila)
    return dict(
        root=root,
        cfg=cfg,
        ckpt=root / 'hd_vila.pth',
        videos=Path(data.data_prefix['video']),
        files={
            words[2]: cfg,
            words[3]: root / 'hd_vila.pth',
            words[5]: data.data_prefix['video']
        })


@pytest.fixture(scope='module')
def tempclr(tmp_path_factory, example_words):
    """The example's tiny TempCLR config and a random checkpoint; a
    directory of feature files of each type and a store's meta.json."""
    root = tmp_path_factory.mktemp('tempclr')
    words = example_words(retrieve, TEMPCLR_EXAMPLE)
    vocab = write_vocab(root / 'vocab.txt')
    cfg = write_config(
        root / 'tempclr.py', REPO / words[2],
        f'test_dataloader = dict(dataset=dict(vocab_file={str(vocab)!r}))')
    _save_random_checkpoint(cfg, root / 'tempclr.pth')
    feats = root / 'features'
    feats.mkdir()
    rng = np.random.default_rng(0)
    rows = {
        name: rng.normal(size=(t, TEMPCLR_DIM)).astype(np.float32)
        for name, t in (('a', 12), ('b', 9), ('c', 16), ('d', 5))
    }
    np.save(feats / 'a.npy', rows['a'])
    np.savez(feats / 'b.npz', features=rows['b'])
    torch.save(torch.from_numpy(rows['c']), feats / 'c.pt')
    np.save(feats / 'd.npy', rows['d'])
    (feats / 'meta.json').write_text('{}')
    return dict(
        root=root,
        cfg=cfg,
        ckpt=root / 'tempclr.pth',
        videos=feats,
        files={
            words[2]: cfg,
            words[3]: root / 'tempclr.pth',
            words[5]: feats
        })


def _direct_ranking(setup, texts, suffixes):
    """Every video of the setup's directory, ranked for each text by the
    API called directly (one batch)."""
    model = init_dual_encoder(str(setup['cfg']), setup['ckpt'])
    files = sorted(
        str(p) for p in setup['videos'].iterdir() if p.suffix in suffixes)
    scores = similarity(
        encode_text(model, texts),
        encode_video(model, files, batch_size=len(files)), model).numpy()
    ranked = []
    for row in scores:
        order = np.argsort(-row)
        gaps = -np.diff(row[order])
        assert gaps.min() > 1e-4, 'scores too close to rank reliably'
        ranked.append([(files[i], row[i]) for i in order])
    return ranked


def _assert_ranking(results, texts, expected, top_k):
    assert [r['text'] for r in results] == texts
    for result, full in zip(results, expected):
        hits = result['ranking']
        assert [h['rank'] for h in hits] == list(range(1, len(hits) + 1))
        assert [h['video'] for h in hits] == [f for f, _ in full[:top_k]]
        np.testing.assert_allclose([h['score'] for h in hits],
                                   [s for _, s in full[:top_k]],
                                   rtol=1e-5,
                                   atol=1e-6)


def _printed(stdout, texts):
    """``{text index: [(file name, score)]}`` from the printed ranking."""
    out, current = {}, None
    for line in stdout.splitlines():
        if line.startswith('text '):
            current = int(line.split(':')[0].split()[1])
            assert line.endswith(repr(texts[current]))
            out[current] = []
        elif line.startswith('  #'):
            name, score = line.split(': ', 1)[1].split('  score ')
            out[current].append((name, float(score)))
    return out


def test_hd_vila_example_ranks_videos_as_the_api_does(hd_vila, example_argv,
                                                      capsys):
    argv = example_argv(retrieve, HD_VILA_EXAMPLE, hd_vila['files'])
    texts = [argv[i + 1] for i, w in enumerate(argv) if w == '--text']
    top_k = int(argv[argv.index('--top-k') + 1])
    out_json = hd_vila['root'] / 'ranking.json'
    # 4 videos, 3 a batch: two batches and a progress bar
    assert retrieve.main(argv +
                         ['--batch-size', '3', '--out-json',
                          str(out_json)]) == 0
    captured = capsys.readouterr()
    expected = _direct_ranking(hd_vila, texts, {'.mp4'})
    assert len(expected[0]) == 4 and top_k < 4
    results = json.loads(out_json.read_text())
    _assert_ranking(results, texts, expected, top_k)
    printed = _printed(captured.out, texts)
    for i, full in enumerate(expected):
        assert [n for n, _ in printed[i]
                ] == [Path(f).name for f, _ in full[:top_k]]
        np.testing.assert_allclose([s for _, s in printed[i]],
                                   [s for _, s in full[:top_k]],
                                   atol=1e-4)
    assert '4/4' in captured.err  # the progress bar
    assert not list(hd_vila['root'].glob('.ranking.json.*'))  # atomic


def test_tempclr_example_ranks_feature_files_of_every_type(
        tempclr, example_argv, capsys):
    files = dict(tempclr['files'],
                 **{'ranking.json': tempclr['root'] / 'ranking.json'})
    argv = example_argv(retrieve, TEMPCLR_EXAMPLE, files)
    texts = [argv[i + 1] for i, w in enumerate(argv) if w == '--text']
    assert retrieve.main(argv) == 0
    expected = _direct_ranking(tempclr, texts, {'.npy', '.npz', '.pt'})
    results = json.loads((tempclr['root'] / 'ranking.json').read_text())
    # --top-k 5 (the default) of 4 videos: all of them; meta.json is no video
    _assert_ranking(results, texts, expected, 5)
    assert len(results[0]['ranking']) == 4
    assert 'ranking: ' in capsys.readouterr().out


def test_ext_narrows_the_files(tempclr, capsys):
    argv = [
        str(tempclr['cfg']),
        str(tempclr['ckpt']), '--videos',
        str(tempclr['videos']), '--text', 'mix the egg', '--ext', 'npy'
    ]
    assert retrieve.main(argv) == 0
    names = [
        n for n, _ in _printed(capsys.readouterr().out, ['mix the egg'])[0]
    ]
    assert sorted(names) == ['a.npy', 'd.npy']


def test_help_shows_the_example_and_the_file_types(capsys):
    with pytest.raises(SystemExit) as e:
        retrieve.main(['--help'])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for line in retrieve.EXAMPLE.strip().splitlines():
        assert line in out
    for suffix in ('.mp4', '.webm', '.npy', '.npz', '.pt'):
        assert suffix in out


def _run_bad(setup, videos, capsys, *extra):
    argv = [
        str(setup['cfg']),
        str(setup['ckpt']), '--videos',
        str(videos), '--text', 'cut the onion', *extra
    ]
    status = retrieve.main(argv)
    err = capsys.readouterr().err
    assert status == 1, err
    assert err.startswith('error: ')
    return err


def test_bad_directories_are_named(tempclr, tmp_path, capsys):
    assert 'nothing is not a directory' in _run_bad(tempclr,
                                                    tmp_path / 'nothing',
                                                    capsys)
    (tmp_path / 'empty').mkdir()
    assert 'empty is empty' in _run_bad(tempclr, tmp_path / 'empty', capsys)
    (tmp_path / 'notes').mkdir()
    (tmp_path / 'notes' / 'readme.txt').write_text('no videos here')
    err = _run_bad(tempclr, tmp_path / 'notes', capsys)
    assert 'notes holds no file of the types' in err and 'readme.txt' in err


def test_files_the_model_cannot_read_are_named(hd_vila, tempclr, tmp_path,
                                               capsys):
    # HD-VILA: a non-video .mp4 in the same batch as real videos
    mixed = tmp_path / 'mixed'
    mixed.mkdir()
    for video in sorted(hd_vila['videos'].iterdir())[:2]:
        (mixed / video.name).write_bytes(video.read_bytes())
    (mixed / 'broken.mp4').write_bytes(b'not a video at all' * 20)
    err = _run_bad(hd_vila, mixed, capsys)
    assert str(mixed / 'broken.mp4') in err
    # TempCLR: a corrupt feature file, and a video file it cannot read
    feats = tmp_path / 'feats'
    feats.mkdir()
    np.save(feats / 'good.npy', np.zeros((4, TEMPCLR_DIM), np.float32))
    (feats / 'torn.npy').write_bytes(b'\x93NUMPY garbage')
    assert str(feats / 'torn.npy') in _run_bad(tempclr, feats, capsys)
    err = _run_bad(tempclr, mixed, capsys)
    assert 'S3D features' in err and str(mixed) in err


def test_missing_checkpoint_and_bad_text(tempclr, capsys):
    argv = [
        str(tempclr['cfg']),
        str(tempclr['root'] / 'gone.pth'), '--videos',
        str(tempclr['videos']), '--text', 'cut the onion'
    ]
    assert retrieve.main(argv) == 1
    err = capsys.readouterr().err
    assert f"checkpoint {tempclr['root'] / 'gone.pth'} does not exist" in err
    assert 'text 1 is empty' in _run_bad(tempclr, tempclr['videos'], capsys,
                                         '--text', '  ')
