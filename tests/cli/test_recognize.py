"""``vtg recognize`` on tiny random-init recognizers and PyAV-written
labelled videos: TSTL's tiny ``Recognizer3D``, its selector + experts
(``TSTLRoutedRecognizer``, checkpoints of the tiny selector / expert
configs) and a plain MMAction2 TSN in MMAction2's own scope. Each example
runs as written on the test's stand-ins for its files; the scores equal
the model's ``predict`` on the test dataset's items of the same videos;
class names come from a label map or the config; bad inputs exit 1 naming
the file."""
import json
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.utils import import_modules_from_strings

from vtg_plugins.cli import recognize
from vtg_plugins.registry import DATASETS, MODELS
from vtg_plugins.testing import write_config
from vtg_plugins.testing.action_videos import make_action_videos

REPO = Path(__file__).resolve().parents[2]
TSTL = REPO / 'configs' / 'tstl'
SELECTOR_TINY = TSTL / 'tstl_tiny-selector_1xb4-6e_synthetic-videos.py'
EXPERT_TINY = TSTL / 'tstl_tiny-expert_1xb4-6e_synthetic-videos.py'
GROUPING = TSTL / 'groupings' / 'tiny_4-classes_2-groups.json'
PLAIN_EXAMPLE, ROUTED_EXAMPLE = 0, 1
NUM_CLASSES = 4
TOL = dict(rtol=1e-5, atol=1e-6)


def _load(cfg_path) -> Config:
    cfg = Config.fromfile(str(cfg_path))
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'vtg_plugins'))
    return cfg


def _random_checkpoint(model_cfg, out: Path, seed: int) -> None:
    """A recognizer's random weights (seed ``seed``, heads spread so that
    the classes' scores are far apart), saved as a training checkpoint."""
    torch.manual_seed(seed)
    model = MODELS.build(model_cfg)
    with torch.no_grad():
        for p in model.cls_head.parameters():  # TSTL's adapters start at 0
            p.normal_(std=0.2)
    torch.save(dict(state_dict=model.state_dict(), meta={}), out)


def _data_body(data) -> str:
    """Config lines pointing the test dataset at ``data``'s val videos."""
    return (f'test_dataloader = dict(dataset=dict('
            f'ann_file={data.lists["val"]!r}, '
            f'data_prefix=dict(video={data.video_dir + "/"!r})))\n')


def _reference_scores(cfg_path, checkpoint=None) -> dict:
    """``{video file: pred_score}`` of the config's model (weights of
    ``checkpoint``) on its test dataset's items, one batch."""
    cfg = _load(cfg_path)
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        model.load_state_dict(torch.load(checkpoint)['state_dict'])
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    with torch.no_grad():
        samples = model.eval().test_step(
            pseudo_collate([dataset[i] for i in range(len(dataset))]))
    return {
        dataset.get_data_info(i)['filename']: s.pred_score
        for i, s in enumerate(samples)
    }


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    """2 videos of each of the 4 classes, 8 frames of 40 x 48 (what the
    tiny configs' data holds)."""
    root = tmp_path_factory.mktemp('tstl_data')
    return make_action_videos(
        str(root),
        splits=dict(val=2),
        num_classes=NUM_CLASSES,
        num_frames=8,
        size=(40, 48))


def _video_files(data) -> dict:
    """The example's ``data/tstl_synthetic/videos/NAME`` -> the test's."""
    return {
        f'data/tstl_synthetic/videos/{p.name}': p
        for p in Path(data.video_dir).iterdir()
    }


@pytest.fixture(scope='module')
def plain(tmp_path_factory, videos, example_words):
    """The example's tiny TSTL config on the test videos and a random
    checkpoint."""
    root = tmp_path_factory.mktemp('tstl_plain')
    words = example_words(recognize, PLAIN_EXAMPLE)
    cfg = write_config(root / 'tstl.py', REPO / words[2], _data_body(videos))
    _random_checkpoint(_load(cfg).model, root / 'tstl.pth', seed=0)
    files = dict(
        _video_files(videos), **{
            words[2]: cfg,
            words[3]: root / 'tstl.pth'
        })
    return dict(root=root, cfg=cfg, ckpt=root / 'tstl.pth', files=files)


@pytest.fixture(scope='module')
def routed(tmp_path_factory, videos, example_words):
    """The example's routed config with the checkpoints of the tiny
    selector config and of the tiny expert config (one per group)."""
    root = tmp_path_factory.mktemp('tstl_routed')
    words = example_words(recognize, ROUTED_EXAMPLE)
    _random_checkpoint(_load(SELECTOR_TINY).model, root / 'selector.pth', 1)
    experts = [root / f'expert-{g}.pth' for g in range(2)]
    for g, path in enumerate(experts):
        _random_checkpoint(_load(EXPERT_TINY).model, path, seed=2 + g)
    cfg = write_config(
        root / 'routed.py', REPO / words[2],
        _data_body(videos) + f'model = dict(grouping={str(GROUPING)!r}, '
        f'selector_checkpoint={str(root / "selector.pth")!r}, '
        f'expert_checkpoints={[str(p) for p in experts]!r})\n')
    files = dict(
        _video_files(videos), **{
            words[2]: cfg,
            'recognized.json': root / 'recognized.json'
        })
    return dict(root=root, cfg=cfg, files=files)


def _assert_predictions(result, reference, top_k, names=None):
    """``result``'s top-k are the classes of ``reference`` (``[C]``) with
    the highest scores, in order, with their scores."""
    hits = result['predictions']
    order = reference.argsort(descending=True)[:top_k].tolist()
    assert [h['label'] for h in hits] == order
    assert [h['rank'] for h in hits] == list(range(1, len(order) + 1))
    torch.testing.assert_close(
        torch.tensor([h['score'] for h in hits]), reference[order].float(),
        **TOL)
    assert [
        h['name'] for h in hits
    ] == ([None] * len(order) if names is None else [names[i] for i in order])
    gaps = -reference[reference.argsort(descending=True)].diff()
    assert gaps.min() > 1e-4, 'scores too close to rank reliably'


def _run(argv, out_json, capsys):
    status = recognize.main(argv + ['--out-json', str(out_json)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(Path(out_json).read_text()), captured


def test_plain_example_scores_as_predict_on_the_test_items(
        plain, example_argv, capsys):
    argv = example_argv(recognize, PLAIN_EXAMPLE, plain['files'])
    top_k = int(argv[argv.index('--top-k') + 1])
    results, captured = _run(argv, plain['root'] / 'out.json', capsys)
    reference = _reference_scores(plain['cfg'], plain['ckpt'])
    shown = [a for a in argv if a.endswith('.mp4')]
    assert [r['video'] for r in results] == shown and len(shown) == 2
    for result in results:
        _assert_predictions(result, reference[result['video']], top_k)
        assert f'video {result["video"]}' in captured.out
        for hit in result['predictions']:
            assert (f'  #{hit["rank"]}: class {hit["label"]}  score '
                    f'{hit["score"]:.4f}') in captured.out


def test_every_video_and_class_equals_predict(plain, capsys):
    reference = _reference_scores(plain['cfg'], plain['ckpt'])
    results, _ = _run(
        [str(plain['cfg']),
         str(plain['ckpt']), *reference, '--top-k', '9'],
        plain['root'] / 'all.json', capsys)
    assert len(results) == 8
    for result in results:
        assert len(result['predictions']) == NUM_CLASSES
        _assert_predictions(result, reference[result['video']], NUM_CLASSES)


def test_routed_example_runs_the_selector_and_experts(routed, example_argv,
                                                      capsys):
    argv = example_argv(recognize, ROUTED_EXAMPLE, routed['files'])
    assert recognize.main(argv) == 0
    captured = capsys.readouterr()
    assert 'no checkpoint' in captured.err
    results = json.loads((routed['root'] / 'recognized.json').read_text())
    reference = _reference_scores(routed['cfg'])
    assert [r['video'] for r in results] == [argv[2]]
    # the default --top-k 5 of 4 classes: all of them
    _assert_predictions(results[0], reference[argv[2]], NUM_CLASSES)


def test_class_names_from_a_label_map_or_the_config(plain, tmp_path, capsys):
    video, reference = next(
        iter(_reference_scores(plain['cfg'], plain['ckpt']).items()))
    names = ['bar right', 'bar left', 'bar down', 'bar up']
    label_map = tmp_path / 'labels.txt'
    label_map.write_text('\n'.join(names) + '\n\n')
    results, captured = _run([
        str(plain['cfg']),
        str(plain['ckpt']), video, '--label-map',
        str(label_map)
    ], tmp_path / 'a.json', capsys)
    _assert_predictions(results[0], reference, 5, names)
    top = results[0]['predictions'][0]
    assert f'#1: {top["name"]} (class {top["label"]})' in captured.out
    # no label map: the test dataset's metainfo classes
    cfg = write_config(
        tmp_path / 'named.py', plain['cfg'],
        f'test_dataloader = dict(dataset=dict(metainfo=dict('
        f'classes={names[::-1]!r})))')
    results, _ = _run([str(cfg), str(plain['ckpt']), video],
                      tmp_path / 'b.json', capsys)
    _assert_predictions(results[0], reference, 5, names[::-1])


def test_any_mmaction2_recognizer(videos, tmp_path, capsys):
    """A TSN config of MMAction2's own scope and transforms."""
    pipeline = [
        dict(type='PyAVInit'),
        dict(
            type='SampleFrames',
            clip_len=1,
            frame_interval=1,
            num_clips=3,
            test_mode=True),
        dict(type='PyAVDecode'),
        dict(type='Resize', scale=(-1, 32)),
        dict(type='CenterCrop', crop_size=32),
        dict(type='FormatShape', input_format='NCHW'),
        dict(type='PackActionInputs')
    ]
    model = dict(
        type='Recognizer2D',
        backbone=dict(type='ResNet', depth=18, pretrained=None),
        cls_head=dict(
            type='TSNHead',
            num_classes=NUM_CLASSES,
            in_channels=512,
            average_clips='prob'),
        data_preprocessor=dict(
            type='ActionDataPreprocessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            format_shape='NCHW'))
    cfg = tmp_path / 'tsn.py'
    cfg.write_text("default_scope = 'mmaction'\n"
                   f'model = {model!r}\n'
                   'test_dataloader = dict(dataset=dict(type="VideoDataset", '
                   f'ann_file={videos.lists["val"]!r}, '
                   f'data_prefix=dict(video={videos.video_dir + "/"!r}), '
                   f'pipeline={pipeline!r}, test_mode=True))\n')
    _random_checkpoint(_load(cfg).model, tmp_path / 'tsn.pth', seed=0)
    reference = _reference_scores(cfg, tmp_path / 'tsn.pth')
    video = sorted(reference)[3]
    results, _ = _run([str(cfg), str(tmp_path / 'tsn.pth'), video],
                      tmp_path / 'tsn.json', capsys)
    _assert_predictions(results[0], reference[video], NUM_CLASSES)
    broken = tmp_path / 'broken.mp4'
    broken.write_bytes(b'not a video at all' * 20)
    assert str(broken) in _run_bad([cfg, tmp_path / 'tsn.pth', broken], capsys)


def test_help_shows_the_example(capsys):
    with pytest.raises(SystemExit) as e:
        recognize.main(['--help'])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for line in recognize.EXAMPLE.strip().splitlines():
        assert line in out
    assert "'none'" in out


def _run_bad(argv, capsys) -> str:
    status = recognize.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert status == 1, err
    assert err.startswith('error: ')
    return err


def test_bad_inputs_are_named(plain, videos, tmp_path, capsys):
    cfg, ckpt = plain['cfg'], plain['ckpt']
    good = next(Path(videos.video_dir).iterdir())
    missing = tmp_path / 'missing.mp4'
    assert f'video {missing} does not exist' in _run_bad(
        [cfg, ckpt, good, missing], capsys)
    broken = tmp_path / 'broken.mp4'
    broken.write_bytes(b'not a video at all' * 20)
    assert f'cannot open video {broken}' in _run_bad([cfg, ckpt, broken],
                                                     capsys)
    assert f'checkpoint {tmp_path / "gone.pth"} does not exist' in _run_bad(
        [cfg, tmp_path / 'gone.pth', good], capsys)
    short = tmp_path / 'three.txt'
    short.write_text('a\nb\nc\n')
    assert (f'label map {short} names 3 classes, the model predicts 4'
            in _run_bad([cfg, ckpt, good, '--label-map', short], capsys))
    holed = tmp_path / 'holed.txt'
    holed.write_text('a\n\nc\nd\n')
    assert f'label map {holed} line 2 is blank' in _run_bad(
        [cfg, ckpt, good, '--label-map', holed], capsys)
    assert f'label map {tmp_path / "none.txt"} does not exist' in _run_bad(
        [cfg, ckpt, good, '--label-map', tmp_path / 'none.txt'], capsys)
