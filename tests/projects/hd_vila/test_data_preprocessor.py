"""HDVILADataPreprocessor: official normalisation of both image tensors,
samples passed through, per-item lists stacked, missing keys, errors."""
import pytest
import torch
from mmengine.structures import BaseDataElement

import vtg_hd_vila  # noqa: F401  (registers HD-VILA)
from vtg_plugins.registry import MODELS

MEAN = torch.tensor([123.675, 116.28, 103.53], dtype=torch.float64)
STD = torch.tensor([58.395, 57.12, 57.375], dtype=torch.float64)


def _batch(b=2, clips=3, others=6, key_hw=(8, 12), low_hw=(2, 3)):
    g = torch.Generator().manual_seed(0)
    keyframes = torch.randint(
        0, 256, (b, clips, 3, *key_hw), generator=g, dtype=torch.uint8)
    frames = torch.randint(
        0, 256, (b, clips, others, 3, *low_hw), generator=g, dtype=torch.uint8)
    samples = [
        BaseDataElement(
            metainfo=dict(video_id=f'v{i}'), text_ids=torch.arange(5) + i)
        for i in range(b)
    ]
    return dict(
        inputs=dict(keyframes=keyframes, frames=frames), data_samples=samples)


def _expected(images):
    return ((images.double() - MEAN.view(3, 1, 1)) / STD.view(3, 1, 1)).float()


def test_normalises_both_image_tensors_and_keeps_samples():
    pre = MODELS.build(dict(type='HDVILADataPreprocessor'))
    batch = _batch()
    out = pre(batch, training=True)
    for key in ('keyframes', 'frames'):
        images = out['inputs'][key]
        assert images.dtype == torch.float32
        assert images.shape == batch['inputs'][key].shape
        torch.testing.assert_close(
            images, _expected(batch['inputs'][key]), rtol=1e-6, atol=1e-6)
    samples = out['data_samples']
    assert [s.video_id for s in samples] == ['v0', 'v1']
    assert torch.equal(samples[1].text_ids, torch.arange(5) + 1)


def test_channel_order_is_rgb():
    pre = MODELS.build(dict(type='HDVILADataPreprocessor'))
    batch = _batch(b=1, clips=1, others=1)
    batch['inputs']['keyframes'][:] = torch.tensor([124, 116, 104],
                                                   dtype=torch.uint8).view(
                                                       3, 1, 1)
    out = pre(batch)['inputs']['keyframes'][0, 0, :, 0, 0]
    expected = (torch.tensor([124., 116., 104.]) - MEAN.float()) / STD.float()
    torch.testing.assert_close(out, expected)


def test_stacks_per_item_lists():
    pre = MODELS.build(dict(type='HDVILADataPreprocessor'))
    batch = _batch()
    listed = dict(
        batch, inputs={
            k: list(v)
            for k, v in batch['inputs'].items()
        })
    out = pre(listed)
    for key in ('keyframes', 'frames'):
        torch.testing.assert_close(
            out['inputs'][key],
            _expected(batch['inputs'][key]),
            rtol=1e-6,
            atol=1e-6)


@pytest.mark.parametrize('kept', ['keyframes', 'frames'])
def test_one_image_key_is_enough(kept):
    pre = MODELS.build(dict(type='HDVILADataPreprocessor'))
    batch = _batch()
    inputs = {kept: batch['inputs'][kept]}
    out = pre(dict(batch, inputs=inputs))
    assert set(out['inputs']) == {kept}
    torch.testing.assert_close(
        out['inputs'][kept], _expected(inputs[kept]), rtol=1e-6, atol=1e-6)


def test_custom_statistics():
    pre = MODELS.build(
        dict(
            type='HDVILADataPreprocessor', mean=(0, 0, 0),
            std=(255, 255, 255)))
    batch = _batch()
    out = pre(batch)
    torch.testing.assert_close(out['inputs']['frames'],
                               batch['inputs']['frames'].float() / 255)


def test_errors():
    pre = MODELS.build(dict(type='HDVILADataPreprocessor'))
    batch = _batch()
    with pytest.raises(ValueError, match='neither keyframes nor frames'):
        pre(dict(batch, inputs=dict(other=1)))
    bad = dict(batch, inputs=dict(frames=batch['inputs']['frames'][:, 0]))
    with pytest.raises(ValueError, match=r'frames must be \[B, clips, T-1'):
        pre(bad)
    uneven = [
        batch['inputs']['keyframes'][0], batch['inputs']['keyframes'][1, :2]
    ]
    with pytest.raises(ValueError, match="keyframes differ in shape"):
        pre(dict(batch, inputs=dict(keyframes=uneven)))
    with pytest.raises(ValueError, match='3 \\(RGB\\) values'):
        MODELS.build(dict(type='HDVILADataPreprocessor', mean=(1, 2)))
