"""tools/analysis/model_zoo.py and tools/model_converters/publish_model.py:
the repository's model zoo passes --check and mim reads it; copies with one
fault each fail naming the metafile, the model and the fault; published
checkpoints carry their hash and no optimizer state."""
import hashlib
import importlib.util
import re
import shutil
from pathlib import Path

import pytest
import torch

from vtg_plugins.utils.model_zoo import load_model_index

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'analysis' / 'model_zoo.py'
PUBLISH = REPO / 'tools' / 'model_converters' / 'publish_model.py'
META = 'configs/groundnlq/metafile.yml'
STAR = 'groundnlq-star_internvideo-egovlp_2xb2-13e_ego4d-nlq'
PRETRAIN = 'groundnlq_internvideo-egovlp_4xb4-10e_ego4d-narration'


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def zoo():
    return _module(TOOL, 'vtg_model_zoo_tool')


@pytest.fixture(scope='module')
def publish():
    return _module(PUBLISH, 'vtg_publish_model_tool')


def _run(tool, capsys, *argv):
    code = tool.main([str(a) for a in argv])
    return code, capsys.readouterr().out


@pytest.mark.slow
def test_the_repository_passes_check(zoo, capsys):
    index = load_model_index(str(REPO))
    code, out = _run(zoo, capsys, '--check')
    assert code == 0, out
    assert out == (f'ok: {len(index.names)} models in 5 metafiles, '
                   'docs/model_zoo.md up to date\n')
    assert sorted(index.imports) == sorted(
        str(p.relative_to(REPO)) for p in REPO.glob('configs/*/metafile.yml'))


def test_every_official_number_is_one_its_readme_states():
    """A metric in a metafile is a number the project README's tables give
    (a typo in a metafile fails here)."""
    index = load_model_index(str(REPO))
    checked = 0
    for meta in index.metafiles:
        for coll in meta.collections:
            readme = (REPO / coll['README']).read_text()
            stated = {float(n) for n in re.findall(r'\d+\.\d+', readme)}
            for model in meta.models:
                for result in model.get('Results') or []:
                    for metric, value in result['Metrics'].items():
                        assert float(value) in stated, (meta.path,
                                                        model['Name'], metric)
                        checked += 1
    assert checked >= 40


def test_mim_reads_the_model_index():
    """What ``mim search vtg_plugins`` does with the installed copy."""
    from mim.commands.search import convert2df
    from modelindex.load_model_index import load
    frame = convert2df(load(str(REPO / 'model-index.yml')))
    index = load_model_index(str(REPO))
    assert set(frame.index) == index.names
    for _, model in index.models():
        row = frame.loc[model['Name']]
        assert row['config'] == model['Config']
        assert row['model'] == model['In Collection'].lower()
        if 'Weights' in model:
            assert row['weight'] == model['Weights']


@pytest.fixture(scope='module')
def template(tmp_path_factory, zoo):
    """A copy of the repository's model zoo reduced to GroundNLQ, with its
    page written by --write."""
    root = tmp_path_factory.mktemp('zoo')
    for folder in ['configs/_base_', 'configs/groundnlq', *zoo.EXCLUDED]:
        shutil.copytree(REPO / folder, root / folder)
    (root / 'projects' / 'groundnlq').mkdir(parents=True)
    shutil.copy(REPO / 'projects/groundnlq/README.md',
                root / 'projects/groundnlq/README.md')
    (root / 'model-index.yml').write_text(f'Import:\n  - {META}\n')
    (root / 'docs').mkdir()
    assert zoo.main(['--write', '--root', str(root)]) == 0
    return root


@pytest.fixture
def copy(template, tmp_path):
    return Path(shutil.copytree(template, tmp_path / 'repo'))


def _edit(path: Path, old: str, new: str):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def _problems(zoo, capsys, root, *extra):
    capsys.readouterr()  # drop what came before (--write)
    code, out = _run(zoo, capsys, '--check', '--root', root, *extra)
    lines = out.splitlines()
    if code == 0:
        return []
    assert lines[-1] == f'{len(lines) - 1} model-zoo problem(s)'
    return lines[:-1]


def test_the_reduced_copy_passes(zoo, capsys, copy):
    assert _problems(zoo, capsys, copy) == []
    page = (copy / 'docs/model_zoo.md').read_text()
    assert '## GroundNLQ' in page and f'`{STAR}`' in page


def test_a_missing_config_fails(zoo, capsys, copy):
    (copy / f'configs/groundnlq/{STAR}.py').unlink()
    assert _problems(zoo, capsys, copy) == [
        f'{META}: model {STAR}: config configs/groundnlq/{STAR}.py does not '
        'exist'
    ]


def test_a_config_that_does_not_lint_fails(zoo, capsys, copy):
    with open(copy / f'configs/groundnlq/{STAR}.py', 'a') as f:
        f.write('default_hooks = dict(checkpoint=dict(intervl=1))\n')
    problems = _problems(zoo, capsys, copy)
    assert len(problems) == 1
    assert problems[0].startswith(
        f'{META}: model {STAR}: config configs/groundnlq/{STAR}.py does not '
        'lint: ')
    assert "default_hooks.checkpoint.intervl: CheckpointHook takes no " \
        "argument 'intervl'" in problems[0]


def test_a_stale_page_fails_until_written(zoo, capsys, copy):
    _edit(copy / META, 'R@1 IoU=0.3: 16.74', 'R@1 IoU=0.3: 16.75')
    problems = _problems(zoo, capsys, copy)
    assert len(problems) == 1
    assert re.fullmatch(
        r'docs/model_zoo\.md: out of date with the metafiles \(from line '
        r'\d+\): run python tools/analysis/model_zoo\.py --write',
        problems[0]), problems
    assert zoo.main(['--write', '--root', str(copy)]) == 0
    assert _problems(zoo, capsys, copy) == []
    assert 'R@1 IoU=0.3 16.75' in (copy / 'docs/model_zoo.md').read_text()


@pytest.mark.parametrize('weights', [
    'groundnlq_pretrain.pth', f'{PRETRAIN}-1234abcd.pth',
    f'{PRETRAIN}_20261341-1234abcd.pth', f'{PRETRAIN}_20261203-1234ABCD.pth'
])
def test_a_bad_weights_name_fails(zoo, capsys, copy, weights):
    _edit(copy / META, f'Weights: {PRETRAIN}.pth', f'Weights: {weights}')
    assert zoo.main(['--write', '--root', str(copy)]) == 0
    problems = _problems(zoo, capsys, copy)
    assert len(problems) == 1
    assert problems[0].startswith(
        f"{META}: model {PRETRAIN}: Weights '{weights}' is neither STEM.pth")


def test_an_unpublished_name_needs_its_comment(zoo, capsys, copy):
    _edit(
        copy / META, '    # not published yet: tools/model_converters/'
        'publish_model.py gives it its date and hash\n', '')
    assert zoo.main(['--write', '--root', str(copy)]) == 0
    assert _problems(zoo, capsys, copy) == [
        f'{META}: model {PRETRAIN}: Weights {PRETRAIN}.pth has no hash yet: '
        'the line before it must be a comment saying publish_model gives it '
        'one'
    ]


def _checkpoint(path: Path):
    torch.save(
        dict(
            meta=dict(epoch=6),
            state_dict=dict(weight=torch.arange(6.).reshape(2, 3)),
            optimizer=dict(state={0: dict(step=torch.tensor(3.))}),
            param_schedulers=[dict(last_step=3)],
            message_hub=dict(runtime_info=dict(iter=3))), path)


def test_a_published_checkpoint_with_a_wrong_hash_fails(
        zoo, publish, capsys, copy, tmp_path):
    _checkpoint(tmp_path / 'epoch_6.pth')
    ckpts = tmp_path / 'published'
    assert publish.main([
        str(tmp_path / 'epoch_6.pth'),
        str(ckpts), '--config',
        str(copy / f'configs/groundnlq/{PRETRAIN}.py'), '--date', '20261203'
    ]) == 0
    name = capsys.readouterr().out.splitlines()[-1][len('Weights: '):]
    _edit(
        copy / META, '    # not published yet: tools/model_converters/'
        f'publish_model.py gives it its date and hash\n    Weights: '
        f'{PRETRAIN}.pth', f'    Weights: {name}')
    assert zoo.main(['--write', '--root', str(copy)]) == 0
    assert _problems(zoo, capsys, copy, '--checkpoint-dir', ckpts) == []
    (ckpts / name).write_bytes(b'another file')
    wrong = hashlib.sha256(b'another file').hexdigest()[:8]
    assert _problems(zoo, capsys, copy, '--checkpoint-dir', ckpts) == [
        f'{META}: model {PRETRAIN}: Weights {name}: the sha256 of '
        f'{ckpts / name} starts with {wrong}, not {name[-12:-4]}'
    ]
    # without the file there is nothing to verify
    assert _problems(zoo, capsys, copy, '--checkpoint-dir', tmp_path) == []


def test_a_metafile_not_imported_fails(zoo, capsys, copy):
    (copy / 'model-index.yml').write_text('Import: []\n')
    problems = _problems(zoo, capsys, copy)
    assert f'{META}: not imported by model-index.yml' in problems
    assert 'configs/groundnlq: has configs but no metafile.yml imported by ' \
        'model-index.yml' in problems


def test_a_config_in_no_model_fails(zoo, capsys, copy):
    shutil.copy(copy / f'configs/groundnlq/{STAR}.py',
                copy / 'configs/groundnlq/groundnlq-star_x_2xb2-13e_y.py')
    assert _problems(zoo, capsys, copy) == [
        f'{META}: configs/groundnlq/groundnlq-star_x_2xb2-13e_y.py is in no '
        'model: add it as a model, to the Engine Variants of the model it '
        'trains on another engine, or to the exclusions with its reason'
    ]


def test_metadata_that_contradicts_the_name_fails(zoo, capsys, copy):
    _edit(copy / META, '      Training Resources: 4 GPUs\n      Batch Size: 4',
          '      Training Resources: 8 GPUs\n      Batch Size: 4')
    assert zoo.main(['--write', '--root', str(copy)]) == 0
    assert _problems(zoo, capsys, copy) == [
        f"{META}: model {PRETRAIN}: Metadata Training Resources is '8 GPUs', "
        'the name states 4 GPU(s)'
    ]


def test_publish_writes_the_hash_and_drops_training_state(
        publish, capsys, tmp_path):
    _checkpoint(tmp_path / 'epoch_6.pth')
    config = REPO / 'configs/groundnlq' / f'{PRETRAIN}.py'
    assert publish.main([
        str(tmp_path / 'epoch_6.pth'),
        str(tmp_path / 'out'), '--config',
        str(config), '--date', '20261203'
    ]) == 0
    out = capsys.readouterr().out.splitlines()
    [path] = (tmp_path / 'out').iterdir()
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.name == f'{PRETRAIN}_20261203-{sha[:8]}.pth'
    assert out == [
        'dropped message_hub', 'dropped optimizer', 'dropped param_schedulers',
        f'wrote {path}', f'Weights: {path.name}'
    ]
    published = torch.load(path, weights_only=True)
    assert sorted(published) == ['meta', 'state_dict']
    assert published['meta'] == dict(epoch=6)
    assert torch.equal(published['state_dict']['weight'],
                       torch.arange(6.).reshape(2, 3))


def test_publish_refuses_what_is_not_a_checkpoint(publish, capsys, tmp_path):
    torch.save([torch.zeros(1)], tmp_path / 'list.pth')
    config = REPO / 'configs/groundnlq' / f'{PRETRAIN}.py'
    assert publish.main([
        str(tmp_path / 'list.pth'),
        str(tmp_path / 'out'), '--config',
        str(config)
    ]) == 1
    err = capsys.readouterr().err
    assert err == (f'error: {tmp_path / "list.pth"}: not an MMEngine '
                   'checkpoint (no state_dict; it holds a list)\n')
    assert not (tmp_path / 'out').exists()


def test_metadata_mim_cannot_read_fails(zoo, capsys, copy):
    """``- a: b`` in a list is a mapping, which ``mim search`` chokes on."""
    name = 'groundnlq_internvideo-egovlp-narration-pt_1xb2-10e_ego4d-nlq-' \
        'trainval'
    _edit(copy / META, '      Training Data: Ego4D NLQ v2 (train + val)',
          '      Training Data:\n        - data: Ego4D NLQ v2 (train + val)')
    assert zoo.main(['--write', '--root', str(copy)]) == 0
    assert _problems(zoo, capsys, copy) == [
        f"{META}: model {name}: Metadata Training Data is [{{'data': 'Ego4D "
        "NLQ v2 (train + val)'}]: mim reads a string, a number or a list of "
        'strings'
    ]


@pytest.mark.parametrize('mode', ['sdist', 'develop'])
def test_setup_exposes_the_model_index_to_mim(tmp_path, monkeypatch, mode):
    """``setup.py`` puts ``model-index.yml`` beside ``tools/`` and
    ``configs/`` in ``vtg_plugins/.mim/`` (a copy for a wheel or sdist, a
    link for an editable install), where ``mim search`` looks."""
    shutil.copy(REPO / 'setup.py', tmp_path / 'setup.py')
    for folder in ('tools', 'configs', 'vtg_plugins'):
        (tmp_path / folder).mkdir()
    (tmp_path / 'configs' / 'a.py').write_text('x = 1\n')
    (tmp_path / 'model-index.yml').write_text('Import: []\n')
    monkeypatch.setattr('sys.argv', ['setup.py', mode])
    _module(tmp_path / 'setup.py', 'vtg_setup_copy').add_mim_extension()
    mim = tmp_path / 'vtg_plugins' / '.mim'
    assert (mim / 'model-index.yml').read_text() == 'Import: []\n'
    assert (mim / 'configs' / 'a.py').read_text() == 'x = 1\n'
    assert (mim / 'model-index.yml').is_symlink() == (mode == 'develop')
