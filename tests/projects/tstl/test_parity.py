"""Parity with the official TSTL / CAST model (``parity_small.pt`` from
``VTG_REFS``, made by running the official code), the parity checker on
mutated fixtures, and the converter of official fine-tuned checkpoints."""
import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.runner import load_checkpoint

from vtg_plugins.testing import ref_path
from vtg_tstl import converters

TOOLS = Path(__file__).resolve().parents[3] / 'projects' / 'tstl' / 'tools'


def load_tool(name: str):
    """``projects/tstl/tools/{name}.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f'_tstl_{name}',
                                                  TOOLS / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_parity = load_tool('check_parity')
convert_official = load_tool('convert_official')


@pytest.fixture(scope='module')
def fixture_path() -> Path:
    return ref_path('tstl', 'parity_small.pt')


@pytest.fixture(scope='module')
def fixture(fixture_path) -> dict:
    return torch.load(fixture_path, weights_only=False)


def test_checker_cli_passes_both_variants(fixture_path):
    proc = subprocess.run(
        [sys.executable, TOOLS / 'check_parity.py', fixture_path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report.pop('ok') is True
    want = {
        f'{v}.{f}'
        for v in ('compo', 'bidir')
        for f in ('pos_embed', 'features.s_x_cls_mean_ln_post',
                  'features.t_x_mean_fc_norm', 'per_block', 'output')
    }
    assert set(report) == want
    assert max(report.values()) < 1e-5


def _drop(key):

    def fn(f):
        del f['bidir'][key]

    return fn


def _perturb_weight(f):
    w = f['bidir']['state_dict']['blocks.1.cross_t_up.weight']
    w += 1e-2 * torch.randn(
        w.shape, generator=torch.Generator().manual_seed(0))


def _drop_weight(f):
    del f['compo']['state_dict']['blocks.0.s2t_cross.vmae_space_pos']


def _extra_block_key(f):
    f['bidir']['per_block'][0]['attn'] = torch.zeros(1)


def _short_per_block(f):
    f['compo']['per_block'].pop()


def _extra_feature(f):
    f['compo']['features']['s_x_mean'] = torch.zeros(2, 64)


def _pos_embed(f):
    f['bidir']['pos_embed'] = f['bidir']['pos_embed'] * 1.01


def _output(f):
    f['compo']['output'][1][0, 3] += 1e-3


def _unknown_arg(f):
    f['bidir']['init_args']['use_rel_pos'] = True


def _unknown_top(f):
    f['extra_variant'] = {}


def _variant_mismatch(f):
    f['bidir']['init_args']['composition'] = True


@pytest.mark.parametrize(
    'mutate,failed',
    [
        # the last block's S2T up-projection: the CLIP feature stays as it is
        (_perturb_weight, [
            'bidir.features.t_x_mean_fc_norm', 'bidir.per_block',
            'bidir.output'
        ]),
        (_drop('per_block'), ['bidir.per_block']),
        (_drop('features'), ['bidir.features']),
        (_drop_weight, ['compo.state_dict']),
        (_extra_block_key, ['bidir.per_block']),
        (_short_per_block, ['compo.per_block']),
        (_extra_feature, ['compo.features.s_x_mean']),
        (_pos_embed, ['bidir.pos_embed']),
        (_output, ['compo.output']),
        (_unknown_arg, ['bidir.init_args']),
        (_unknown_top, ['fixture.extra_variant']),
        (_variant_mismatch, ['bidir.init_args']),
    ])
def test_checker_fails_on_a_mutated_fixture(fixture, mutate, failed):
    bad = copy.deepcopy(fixture)
    mutate(bad)
    report = check_parity.check(bad)
    assert not report.ok
    assert report.failed == failed


def test_checker_accepts_one_variant_and_exits_1_on_failure(
        fixture, tmp_path, capsys):
    only = {k: v for k, v in fixture.items() if k != 'compo'}
    report = check_parity.check(only)
    assert report.ok and all(f.startswith('bidir.') for f in report.fields)
    no_variant = {k: v for k, v in only.items() if k != 'bidir'}
    assert check_parity.check(no_variant).failed == ['fixture']

    bad = copy.deepcopy(fixture)
    _perturb_weight(bad)
    path = tmp_path / 'bad.pt'
    torch.save(bad, path)
    capsys.readouterr()
    assert check_parity.main([str(path)]) == 1
    assert json.loads(capsys.readouterr().out)['ok'] is False


@pytest.mark.parametrize('variant,wrap', [('bidir', 'model'),
                                          ('compo', 'module')])
def test_convert_official_checkpoint(fixture, tmp_path, variant, wrap):
    """An official checkpoint (``model`` / DeepSpeed ``module`` entry, DDP
    ``module.`` prefixes) -> an MMEngine checkpoint our Recognizer3D loads
    strictly and that reproduces the official output."""
    ref = fixture[variant]
    src, dst = tmp_path / 'official.pth', tmp_path / 'ours.pth'
    torch.save(
        {
            wrap: {
                f'module.{k}': v
                for k, v in ref['state_dict'].items()
            },
            'epoch': 3
        }, src)
    assert convert_official.main([str(src), str(dst)]) == 0
    ckpt = torch.load(dst, weights_only=False)
    assert ckpt['meta']['variant'] == variant
    assert all(
        k.startswith(('backbone.', 'cls_head.')) for k in ckpt['state_dict'])
    model = check_parity.build_model(ref['init_args'])
    load_checkpoint(model, str(dst), strict=True)
    with torch.no_grad():
        out = model.cls_head(model.backbone(fixture['input']))
    if variant == 'bidir':
        assert set(model.cls_head.state_dict()) == {
            f'{m}.{p}'
            for m in ('noun_last_adapter.D_fc1', 'noun_last_adapter.D_fc2',
                      'verb_last_adapter.D_fc1', 'verb_last_adapter.D_fc2',
                      'fc_cls')
            for p in ('weight', 'bias')
        }
        torch.testing.assert_close(out, ref['output'], atol=1e-5, rtol=0)
    else:
        for o, r in zip(out, ref['output']):
            torch.testing.assert_close(o, r, atol=1e-5, rtol=0)


def test_converter_refuses_what_it_cannot_map(fixture, tmp_path):
    sd = dict(fixture['bidir']['state_dict'])
    with pytest.raises(ValueError, match='a head of the bidir variant'):
        converters.convert_state_dict(sd, composition=True)
    with pytest.raises(ValueError, match='fusion_proj.weight: not a key'):
        converters.convert_state_dict(
            {
                **sd, 'fusion_proj.weight': torch.zeros(1)
            }, False)
    table = fixture['bidir']['pos_embed']
    assert converters.convert_state_dict({**sd, 'pos_embed': table},
                                         False).keys() == \
        converters.convert_state_dict(sd, False).keys()
    with pytest.raises(ValueError, match='learnable positional'):
        converters.convert_state_dict({**sd, 'pos_embed': table + 0.1}, False)
    with pytest.raises(ValueError, match='neither'):
        converters.infer_composition({'blocks.0.norm1.weight': 0})
    with pytest.raises(ValueError, match='qk_scale'):
        converters.official_to_kwargs(dict(qk_scale=0.1))
    bad = tmp_path / 'bad.pth'
    torch.save({'model': {'head_noun.weight': 0, 'head.weight': 0}}, bad)
    assert convert_official.main([str(bad), str(tmp_path / 'o.pth')]) == 1


def test_official_kwargs_map_onto_ours(fixture):
    cfg = converters.official_to_kwargs(fixture['compo']['init_args'])
    assert cfg['backbone'] == dict(
        type='TSTLBackbone',
        img_size=112,
        patch_size=8,
        in_channels=3,
        embed_dim=64,
        depth=2,
        num_heads=4,
        mlp_ratio=4.0,
        down_ratio=2,
        qkv_bias=True,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.0,
        num_frames=4,
        tubelet_size=2)
    assert cfg['cls_head'] == dict(
        type='TSTLCompoHead',
        in_channels=64,
        dropout_ratio=0.0,
        init_scale=1.0)
    # the official defaults fill what init_args omit (CAST: qkv_bias False)
    bidir = converters.official_to_kwargs(dict(num_classes=7))
    assert bidir['backbone']['qkv_bias'] is False
    assert bidir['cls_head']['num_classes'] == 7
