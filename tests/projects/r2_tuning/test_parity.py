"""Parity with the official implementation on the shared fixtures."""
import json

import pytest
import torch

from vtg_plugins.testing import ref_path
from ._tools import load_tool

check_parity = load_tool('check_parity')


@pytest.mark.slow
@pytest.mark.parametrize('name', ['parity_qvh.pt', 'parity_youtube.pt'])
def test_official_parity(name):
    res = check_parity.run_parity(str(ref_path('r2_tuning', name)))
    assert res.pop('ok'), res
    expected = {'loss_cls', 'loss_sal', 'loss_video_cal', 'loss_layer_cal',
                'video_emb', 'out_class', 'coll_v', 'coll_q',
                'test_saliency'}
    if name == 'parity_qvh.pt':
        expected |= {'loss_reg', 'out_coord', 'test_boundary',
                     'post_qvh_normal0.7_unit2', 'post_linear_unit0.1',
                     'post_linear_nounit'}
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
    res = json.loads(capsys.readouterr().out)
    assert res['ok'] is False
    assert res['out_class'] == pytest.approx(0.1, abs=1e-5)
    assert res['video_emb'] < 1e-5  # the adapter is untouched
