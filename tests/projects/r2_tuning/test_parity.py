"""Parity with the official implementation on the reference fixtures."""
import json

import pytest
import torch

from vtg_plugins.testing import ref_path
from ._tools import load_tool

check_parity = load_tool('check_parity')


@pytest.mark.slow
@pytest.mark.parametrize('name', ['parity_qvh.pt', 'parity_youtube.pt'])
def test_official_parity(name):
    report = check_parity.run_parity(str(ref_path('r2_tuning', name)))
    assert report.ok, report.problems
    res = report.to_dict()
    res.pop('ok')
    expected = {'loss_keys', 'loss_cls', 'loss_sal', 'loss_video_cal',
                'loss_layer_cal', 'video_emb', 'query_emb', 'video_msk',
                'out_class', 'out_coord', 'point', 'pymid_msk', 'coll_v',
                'coll_q', 'test_saliency'}
    if name == 'parity_qvh.pt':
        expected |= {'loss_reg', 'test_boundary', 'post_qvh_normal0.7_unit2',
                     'post_linear_unit0.1', 'post_linear_nounit',
                     'post_linear_nounit.saliency'}
    else:
        expected |= {'youtube_mAP'}
    assert expected <= set(res)
    assert max(res.values()) < 1e-5, res


@pytest.mark.slow
def test_check_parity_fails_on_a_wrong_model(tmp_path, capsys):
    fx = torch.load(ref_path('r2_tuning', 'parity_youtube.pt'),
                    weights_only=True)
    fx['state_dict']['class_head.module.3.bias'] += 0.1
    path = tmp_path / 'perturbed.pt'
    torch.save(fx, path)
    assert check_parity.main([str(path)]) == 1
    captured = capsys.readouterr()
    res = json.loads(captured.out)
    assert res['ok'] is False
    assert res['out_class'] == pytest.approx(0.1, abs=1e-5)
    assert res['video_emb'] < 1e-5  # the adapter is untouched
    assert ("parity failed (atol=0.0001, rtol=0.0): ['loss_cls', "
            "'out_class', 'test_saliency']") in captured.err


@pytest.mark.slow
def test_check_parity_fails_on_a_truncated_fixture(tmp_path, capsys):
    """Fewer pyramid levels, a dropped test sample, a dropped loss and an
    unknown post-processing all fail, each named."""
    fx = torch.load(ref_path('r2_tuning', 'parity_qvh.pt'),
                    weights_only=True)
    out = fx['outputs']
    train = out['batch_train_mode']
    train['coll_v'] = train['coll_v'][:3]
    del train['losses']['loss_sal']
    out['per_sample_test_mode'] = out['per_sample_test_mode'][:1]
    out['postprocessed']['soft_nms'] = []
    path = tmp_path / 'truncated.pt'
    torch.save(fx, path)
    assert check_parity.main([str(path)]) == 1
    res = json.loads(capsys.readouterr().out)
    failed = {k for k, v in res.items() if k != 'ok' and v == float('inf')}
    assert failed == {'coll_v', 'loss_keys', 'test_saliency',
                      'test_boundary', 'post_soft_nms'}
    assert res['ok'] is False and res['video_emb'] < 1e-5
    del out['postprocessed']
    torch.save(fx, path)
    report = check_parity.run_parity(str(path))
    assert report.failed == ['outputs.postprocessed']
