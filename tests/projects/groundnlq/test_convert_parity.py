import json
import subprocess
import sys

import pytest
import torch

import vtg_groundnlq  # noqa: F401
from vtg_groundnlq.models import GroundNLQ
from vtg_plugins.testing import ref_path
from ._tools import TOOLS, load_tool

convert = load_tool('convert_official')

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
    assert report.failed == [], {k: report[k] for k in report.failed}
    for field in ('results.segments', 'real_len.results.segments',
                  'losses.final_loss', 'real_len.pre_nms.scores', 'gt_offsets',
                  'fpn_feats'):
        assert field in report
    # the tolerance rule is |ours - ref| <= atol + rtol * |ref|, shapes equal
    rule = check_parity._Report(atol=1e-4, rtol=1e-5)
    rule.add('near', [(torch.tensor([1000.0]), torch.tensor([1000.005]))])
    rule.add('far', [(torch.tensor([1.0]), torch.tensor([1.0002]))])
    rule.add('shape', [(torch.zeros(4), torch.zeros(5))])
    assert rule.failed == ['far', 'shape']
    assert rule['near'] == pytest.approx(0.005, rel=1e-2)


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
        results = [model.postprocess(c, s) for c, s in zip(cands, samples)]
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


check_parity = load_tool('check_parity')


def test_check_parity_on_another_fixture_and_cli(tmp_path):
    fixture = tiny_fixture()
    report = check_parity.check(fixture)
    assert report.failed == [], {k: report[k] for k in report.failed}
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
