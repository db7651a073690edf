"""Conversion of official GroundNLQ weights and the parity checker, on data
made by the official code only: ``parity.pt`` (``VTG_REFS``), the in-repo
GroundNLQ* fixture ``tests/data/groundnlq/parity_star.pt`` and the official
full model's key listing ``state_dict.txt`` (``VTG_REFS``)."""
import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vtg_groundnlq import converters as convert
from vtg_groundnlq.models import GroundNLQ
from vtg_plugins.testing import ref_path
from ._tools import TOOLS, load_tool

check_parity = load_tool('check_parity')

STAR = Path(__file__).resolve().parents[2] / 'data' / 'groundnlq' / \
    'parity_star.pt'
#: official model-config keys the converter reads from the weights
INFERRED = ('input_vid_dim', 'input_txt_dim', 'embd_dim', 'backbone_arch',
            'embd_kernel_size', 'embd_with_ln', 'fpn_with_ln',
            'head_with_ln', 'head_num_layers', 'head_kernel_size',
            'num_classes')


@pytest.fixture(scope='module')
def star() -> dict:
    """GroundNLQ* made by the official code (cross attention in the
    branch, widths 32)."""
    return torch.load(STAR, weights_only=False)


def _load(path: Path) -> dict:
    return torch.load(path, weights_only=False)


def _official_arch(config: dict) -> dict:
    """The official config's values of the keys the converter infers."""
    model = config['model']
    arch = {k: model[k] for k in INFERRED}
    arch['backbone_arch'] = tuple(arch['backbone_arch'])
    return arch


def test_convert_checkpoint_infers_arch_and_loads(tmp_path, star):
    """An official GroundNLQ* checkpoint (DDP prefix, EMA entry): the
    architecture read from its weights is the official config's."""
    sd = star['state_dict']
    src = tmp_path / 'official.pth.tar'
    torch.save(
        dict(
            epoch=3,
            state_dict={f'module.{k}': v
                        for k, v in sd.items()},
            state_dict_ema={k: v + 1
                            for k, v in sd.items()}), src)
    dst = tmp_path / 'out' / 'groundnlq.pth'
    official = star['config']['model']
    cfg, _ = convert.convert_checkpoint(
        str(src), str(dst), 'state_dict_ema',
        dict(max_seq_len=official['max_seq_len'], n_head=official['n_head']))
    assert {k: cfg[k] for k in INFERRED} == _official_arch(star['config'])
    assert cfg['backbone_arch'] == (2, 4, 4, 6, 0)  # GroundNLQ*
    assert cfg['train_cfg'] == dict(
        droppath=star['config']['train_cfg']['droppath'])
    assert sorted(p.name for p in dst.parent.iterdir()) == ['groundnlq.pth']
    ckpt = torch.load(dst, weights_only=False)
    model = GroundNLQ(**cfg)
    model.load_state_dict(ckpt['state_dict'])
    key = 'backbone.branch.5.cross_attn.key.weight'
    torch.testing.assert_close(model.state_dict()[key], sd[key] + 1)
    assert float(model.loss_normalizer) == 200.0


def test_convert_command_line(tmp_path, capsys):
    """The official GroundNLQ weights (7 pyramid levels) with the CLI's
    defaults: the model built is the official config's."""
    fixture = _load(ref_path('groundnlq', 'parity.pt'))
    src, dst = tmp_path / 'official.pth.tar', tmp_path / 'groundnlq.pth'
    torch.save(dict(state_dict=fixture['state_dict']), src)
    load_tool('convert_official').main([str(src), str(dst)])
    assert f'wrote {dst}: ' in capsys.readouterr().out
    ckpt = torch.load(dst, weights_only=False)
    cfg = ckpt['meta']['model_cfg']
    official = fixture['config']['model']
    assert {k: cfg[k] for k in INFERRED} == _official_arch(fixture['config'])
    assert cfg['backbone_arch'] == (2, 4, 4, 0, 6)
    for key in ('n_head', 'n_mha_win_size', 'max_seq_len'):
        assert cfg[key] == official[key], key
    model = GroundNLQ(**cfg)
    model.load_state_dict(ckpt['state_dict'])
    assert [list(r) for r in model.reg_range] == \
        official['regression_range']
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'groundnlq.pth', 'official.pth.tar'
    ]


def _official_listing() -> dict:
    """``state_dict.txt``: official full model key -> shape."""
    text = ref_path('groundnlq', 'state_dict.txt').read_text()
    rows = [ln.split('\t') for ln in text.splitlines()
            if ln and not ln.startswith('#')]
    return {k: tuple(int(d) for d in re.findall(r'\d+', shape))
            for k, shape, _ in rows}


def test_the_official_full_model_is_inferred_key_for_key():
    """The official full-size model's keys and shapes (32.5 M parameters):
    the architecture read from them builds a model with exactly those."""
    listing = _official_listing()
    assert len(listing) == 467
    with torch.device('meta'):
        sd = {k: torch.empty(s) for k, s in listing.items()}
        cfg = convert.infer_model_cfg(sd)
        model = GroundNLQ(**cfg)
    assert cfg['backbone_arch'] == (2, 4, 4, 0, 6)
    assert (cfg['embd_dim'], cfg['input_vid_dim'],
            cfg['input_txt_dim']) == (384, 2304, 512)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()
            if k != 'loss_normalizer'}
    assert ours == listing
    assert sum(v.numel() for v in model.parameters()) == 32527498


def test_convert_reports_missing_and_bad_shapes(star):
    model = GroundNLQ(**convert.official_to_kwargs(star['config']['model']))
    broken = dict(star['state_dict'])
    broken.pop('reg_head.offset_head.conv.bias')
    broken['cls_head.norm.0.weight'] = torch.ones(1, 33, 1)
    broken['backbone.extra.weight'] = torch.ones(1)
    with pytest.raises(ValueError) as err:
        convert.convert_state_dict(broken, model)
    msg = str(err.value)
    assert "missing ['reg_head.offset_head.conv.bias']" in msg
    assert "unexpected ['backbone.extra.weight']" in msg
    assert "('cls_head.norm.0.weight', (1, 33, 1), (1, 32, 1))" in msg
    with pytest.raises(ValueError, match='not a GroundNLQ state dict'):
        convert.infer_model_cfg({'foo': torch.ones(1)})


def test_parity_with_official_outputs():
    fixture = _load(ref_path('groundnlq', 'parity.pt'))
    report = check_parity.check(fixture)
    assert report.failed == [], report.problems
    for field in ('results.segments', 'real_len.results.segments',
                  'losses.final_loss', 'real_len.pre_nms.scores', 'gt_offsets',
                  'fpn_feats', 'backbone_masks', 'real_len.backbone_masks',
                  'results.video_id', 'pos_embd'):
        assert field in report


def _truncated(fixture, name, levels=4):
    out = dict(fixture['outputs'])
    out[name] = out[name][:levels]
    return dict(fixture, outputs=out)


@pytest.mark.parametrize('name', ['fpn_feats_cropped', 'backbone_masks'])
def test_a_truncated_official_fixture_fails(name):
    """A reference cut to 4 of 7 pyramid levels is not a pass (zip() would
    compare the first 4 and report ok)."""
    fixture = _load(ref_path('groundnlq', 'parity.pt'))
    report = check_parity.check(_truncated(fixture, name))
    field = name.replace('_cropped', '')
    assert report.failed == [field, 'real_len.' + field]
    assert report[field] == float('inf')
    assert report.problems[field] == [
        f'{field}: 7 entries vs 4 in the reference'
    ]


def test_check_parity_cli_fails_on_a_wrong_official_result(tmp_path, star):
    """One official result score off by 1e-3: exit code 1, the JSON report
    on stdout names the field and the size of the difference."""
    fixture = copy.deepcopy(star)
    fixture['outputs']['results'][1]['scores'][0] += 1e-3
    path = tmp_path / 'fixture.pt'
    torch.save(fixture, path)
    proc = subprocess.run(
        [sys.executable,
         str(TOOLS / 'check_parity.py'),
         str(path)],
        capture_output=True,
        text=True)
    report = json.loads(proc.stdout)  # stdout holds only the JSON
    assert proc.returncode == 1 and report['ok'] is False
    assert report['results.scores'] == pytest.approx(1e-3, rel=1e-2)
    # the rest still matches the official outputs
    assert report['backbone_feats'] <= check_parity.DEFAULT_ATOL
    assert report['results.segments'] <= check_parity.DEFAULT_ATOL
    assert "'results.scores', 'real_len.results.scores'" in proc.stderr


def test_check_parity_fails_on_other_structures(star):
    """Fewer pyramid levels, a dropped video, a missing result key and an
    output field the checker does not know all fail."""
    fixture = copy.deepcopy(star)
    out = fixture['outputs']
    out['points'] = out['points'][:3]
    out['pre_nms'] = out['pre_nms'][:1]
    del out['results'][0]['labels']
    out['saliency'] = torch.zeros(3)
    report = check_parity.check(fixture)
    assert set(report.failed) == {
        'outputs.saliency', 'points', 'real_len.points', 'pre_nms.segments',
        'pre_nms.scores', 'pre_nms.labels', 'real_len.pre_nms.segments',
        'real_len.pre_nms.scores', 'real_len.pre_nms.labels',
        'results.labels', 'real_len.results.labels'
    }
    assert report.problems['pre_nms.scores'] == [
        'pre_nms.scores: 2 entries vs 1 in the reference'
    ]
    assert report.problems['results.labels'] == [
        'results.labels[0]: Tensor vs reference NoneType'
    ]
    del out['backbone_masks']
    report = check_parity.check(fixture)
    assert report.problems == {
        'outputs.saliency': [
            'outputs.saliency: a fixture output this checker does not '
            'compare'
        ],
        'outputs.backbone_masks':
        ['outputs.backbone_masks: missing from the fixture']
    }
