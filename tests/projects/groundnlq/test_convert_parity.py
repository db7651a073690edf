import json
import subprocess
import sys

import pytest
import torch

from vtg_groundnlq import converters as convert
from vtg_groundnlq.models import GroundNLQ
from vtg_plugins.testing import ref_path
from ._tools import TOOLS, load_tool

check_parity = load_tool('check_parity')

TINY = dict(
    input_vid_dim=24,
    input_txt_dim=16,
    embd_dim=32,
    backbone_arch=(2, 1, 2, 3, 1),
    max_seq_len=64,
    regression_range=((0, 4), (2, 8), (4, 16), (8, 32), (16, 10000)))


def official_like_state_dict():
    """A state dict with the official key layout (ours minus the buffer)."""
    torch.manual_seed(0)
    sd = GroundNLQ(**TINY).state_dict()
    sd.pop('loss_normalizer')
    return sd


def test_convert_checkpoint_infers_arch_and_loads(tmp_path):
    sd = official_like_state_dict()
    src = tmp_path / 'official.pth.tar'
    torch.save(
        dict(
            epoch=3,
            state_dict={
                f'module.{k}': v
                for k, v in sd.items()
            },
            state_dict_ema={
                k: v + 1
                for k, v in sd.items()
            }), src)
    dst = tmp_path / 'out' / 'groundnlq.pth'
    cfg, new_sd = convert.convert_checkpoint(
        str(src), str(dst), 'state_dict_ema',
        dict(max_seq_len=64, regression_range=TINY['regression_range']))
    assert cfg['backbone_arch'] == (2, 1, 2, 3, 1)
    assert (cfg['embd_dim'], cfg['input_vid_dim'], cfg['input_txt_dim']) \
        == (32, 24, 16)
    assert sorted(p.name for p in dst.parent.iterdir()) == ['groundnlq.pth']
    ckpt = torch.load(dst, weights_only=False)
    model = GroundNLQ(**cfg)
    model.load_state_dict(ckpt['state_dict'])
    key = 'backbone.branch.0.cross_attn.key.weight'
    torch.testing.assert_close(model.state_dict()[key], sd[key] + 1)
    assert float(model.loss_normalizer) == 200.0


def test_convert_command_line(tmp_path, capsys):
    """The official 7 pyramid levels, the CLI's defaults but the length."""
    src, dst = tmp_path / 'official.pth.tar', tmp_path / 'groundnlq.pth'
    arch = dict(input_vid_dim=24, input_txt_dim=16, embd_dim=32,
                backbone_arch=(2, 1, 2, 0, 6), max_seq_len=128)
    sd = GroundNLQ(**arch).state_dict()
    sd.pop('loss_normalizer')
    torch.save(dict(state_dict=sd), src)
    load_tool('convert_official').main(
        [str(src), str(dst), '--max-seq-len', '128'])
    assert f'wrote {dst}: ' in capsys.readouterr().out
    ckpt = torch.load(dst, weights_only=False)
    cfg = ckpt['meta']['model_cfg']
    assert cfg['backbone_arch'] == (2, 1, 2, 0, 6)
    assert (cfg['max_seq_len'], cfg['embd_dim'], cfg['n_head']) == (128, 32,
                                                                     4)
    GroundNLQ(**cfg).load_state_dict(ckpt['state_dict'])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'groundnlq.pth', 'official.pth.tar'
    ]


def test_convert_reports_missing_and_bad_shapes():
    sd = official_like_state_dict()
    model = GroundNLQ(**TINY)
    broken = dict(sd)
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
    fixture = torch.load(
        ref_path('groundnlq', 'parity.pt'), weights_only=False)
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
    fixture = torch.load(
        ref_path('groundnlq', 'parity.pt'), weights_only=False)
    report = check_parity.check(_truncated(fixture, name))
    field = name.replace('_cropped', '')
    assert report.failed == [field, 'real_len.' + field]
    assert report[field] == float('inf')
    assert report.problems[field] == [
        f'{field}: 7 entries vs 4 in the reference'
    ]


def tiny_fixture(lengths=(40, 21), qlens=(5, 3)):
    """A fixture in the official structure, with outputs from our own model
    padded to ``max_seq_len`` (other sizes than the shared one)."""
    model_cfg = dict(
        TINY,
        fpn_dim=32,
        head_dim=32,
        fpn_type='identity',
        n_head=4,
        n_mha_win_size=5)
    test_cfg = dict(pre_nms_thresh=0.001, max_seg_num=5, ext_score_file=None)
    torch.manual_seed(0)
    model = GroundNLQ(
        pad_to_max_len=True,
        **convert.official_to_kwargs(model_cfg, dict(clip_grad_l2norm=1.0),
                                     test_cfg)).eval()
    torch.nn.init.normal_(model.cls_head.cls_head.conv.weight, std=0.5)
    g = torch.Generator().manual_seed(5)
    video_list = [
        dict(
            video_id=f'v{i}',
            query_id=f'a_{i}',
            feats=torch.randn(24, t, generator=g),
            query_feats=torch.randn(16, n, generator=g),
            fps=30,
            duration=t * 16.043 / 30,
            feat_stride=16.043,
            feat_num_frames=16.043,
            timestamps_sec=torch.tensor([[1.0, 4.0 + i]], dtype=torch.float64))
        for i, (t, n) in enumerate(zip(lengths, qlens))
    ]
    inputs, samples = check_parity.fixture_to_batch(video_list)
    with torch.no_grad():
        res = model(inputs, samples, mode='tensor')
        cands = model.candidates(res)
        results = [
            dict(model.postprocess(c, s), video_id=s['vid'])
            for c, s in zip(cands, samples)
        ]
        gt_cls, gt_reg = model.get_targets(res['points'], samples)
        losses = model(inputs, samples, mode='loss')
    sd = model.state_dict()
    sd.pop('loss_normalizer')
    return dict(
        config=dict(
            model=model_cfg,
            train_cfg=dict(clip_grad_l2norm=1.0),
            test_cfg=test_cfg),
        state_dict=sd,
        inputs=dict(video_list=video_list),
        outputs=dict(
            backbone_feats_cropped=res['feats'],
            fpn_feats_cropped=res['fpn_feats'],
            backbone_masks=[m[:, None] for m in res['masks']],
            fpn_masks=[m[:, None] for m in res['masks']],
            points=res['points'],
            cls_logits=res['cls_logits'],
            offsets=res['offsets'],
            gt_cls_labels=gt_cls,
            gt_offsets=gt_reg,
            losses=dict(
                cls_loss=losses['loss_cls'],
                reg_loss=losses['loss_reg'],
                final_loss=losses['loss_cls'] + losses['loss_reg']),
            loss_normalizer_before=200.0,
            loss_normalizer_after=float(model.loss_normalizer),
            pre_nms=cands,
            results=results))


def test_check_parity_on_another_fixture_and_cli(tmp_path):
    fixture = tiny_fixture()
    report = check_parity.check(fixture)
    assert report.failed == [], report.problems
    assert 'real_len.results.segments' in report
    # a wrong stored result must make the CLI fail with exit code 1
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
    assert report['results.scores'] == pytest.approx(1e-3, rel=1e-3)
    assert report['backbone_feats'] == 0.0
    assert "'results.scores', 'real_len.results.scores'" in proc.stderr


def test_check_parity_fails_on_other_structures():
    """Fewer pyramid levels, a dropped video, a missing result key and an
    output field the checker does not know all fail."""
    fixture = tiny_fixture()
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
