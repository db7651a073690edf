import os
from collections import OrderedDict

import pytest
import torch

from vtg_plugins.registry import MODELS
from vtg_plugins.testing import ref_path
from vtg_r2_tuning import converters as convert_official
from ._tools import load_tool


@pytest.fixture(scope='module')
def official():
    return torch.load(ref_path('r2_tuning', 'parity_qvh.pt'),
                      weights_only=True)['state_dict']


@pytest.mark.parametrize('wrap', ['bare', 'state_dict', 'model', 'module'])
def test_convert_file_round_trip(tmp_path, official, wrap):
    sd = OrderedDict(official)
    if wrap == 'module':
        sd = OrderedDict(('module.' + k, v) for k, v in sd.items())
    ckpt = sd if wrap in ('bare', 'module') else {wrap: sd, 'meta': {}}
    src, dst = tmp_path / 'official.pth', tmp_path / 'out' / 'ours.pth'
    torch.save(ckpt, src)
    cfg = convert_official.convert(str(src), str(dst))
    assert os.listdir(dst.parent) == ['ours.pth']  # no temp file left
    assert cfg['strides'] == (1, 2, 4, 8) and cfg['use_tef'] and cfg['k'] == 4
    out = torch.load(dst, weights_only=True)
    assert out['meta']['model_cfg'] == cfg
    model = MODELS.build(cfg)
    model.load_state_dict(out['state_dict'], strict=True)
    assert torch.equal(model.pyramid.levels[3][2].conv.weight,
                       official['pyramid.blocks.3.11.weight'])
    assert torch.equal(model.class_head.conv2.bias,
                       official['class_head.module.3.bias'])
    assert torch.equal(model.loss_module.sal_scale,
                       official['loss._loss_sal.scale'])


def test_youtube_variant_inferred():
    sd = torch.load(ref_path('r2_tuning', 'parity_youtube.pt'),
                    weights_only=True)['state_dict']
    ours, cfg = convert_official.convert_state_dict(sd)
    assert cfg['strides'] == (1, ) and not cfg['use_tef']
    assert not cfg['use_coord_head'] and not cfg['merge_cls_sal']
    assert len(ours) == len(sd) == 55


def test_bad_checkpoints_name_the_problem(tmp_path, official):
    sd = OrderedDict(official)
    sd['adapter.extra.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match=r'unknown official keys .*extra'):
        convert_official.convert_state_dict(sd)
    sd = OrderedDict(official)
    del sd['pyramid.blocks.2.8.bias']
    with pytest.raises(ValueError, match=r'lacks .*levels\.2\.1\.norm\.bias'):
        convert_official.convert_state_dict(sd)
    sd = OrderedDict(official)
    sd['adapter.v_map.weight'] = torch.zeros(256, 255)
    with pytest.raises(ValueError, match=r'adapter\.v_map\.weight.*255'):
        convert_official.convert_state_dict(sd)
    src = tmp_path / 'junk.pth'
    torch.save({'epoch': 3}, src)
    with pytest.raises(ValueError, match='junk.pth'):
        convert_official.convert(str(src), str(tmp_path / 'o.pth'))
    assert not (tmp_path / 'o.pth').exists()


def test_command_line(tmp_path, official, capsys):
    src, dst = tmp_path / 'official.pth', tmp_path / 'ours.pth'
    torch.save({'model': official}, src)
    load_tool('convert_official').main([str(src), str(dst)])
    assert f'wrote {dst}' in capsys.readouterr().out
    out = torch.load(dst, weights_only=True)
    assert out['meta']['source'] == 'official.pth'
    assert sorted(os.listdir(tmp_path)) == ['official.pth', 'ours.pth']
