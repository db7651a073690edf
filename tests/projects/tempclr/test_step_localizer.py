"""TempCLRStepLocalizer against the HF-BERT oracle of the official
``MMFusionSeparateActionLocalization``, the official window averaging of
``CrossTaskPredictor`` and the official ``AlignLocalTask`` loss."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import BaseDataElement

import vtg_tempclr  # noqa: F401
from vtg_plugins.registry import MODELS
from vtg_tempclr.converters import convert_state_dict
from vtg_tempclr.datasets.packing import build_text_tokens, build_video_rows
from vtg_tempclr.datasets.tokens import SpecialTokens
from vtg_tempclr.models.losses import StepAlignmentLoss

_spec = importlib.util.spec_from_file_location(
    '_tempclr_hf_oracle',
    Path(__file__).with_name('hf_oracle.py'))
oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oracle)

INPUT_DIM, WINDOW, STRIDE, CLS, SEP, PAD = 8, 6, 4, 2, 3, 0
SPECIAL = SpecialTokens(CLS, SEP, PAD)


def build(bert, **kwargs):
    return MODELS.build(
        dict(
            type='TempCLRStepLocalizer',
            bert_config=dict(bert, attn_implementation='eager'),
            video_layers=1,
            input_dim=INPUT_DIM,
            max_video_len=WINDOW,
            cls_token_id=CLS,
            sep_token_id=SEP,
            **kwargs))


def official_windows(video_len):
    """``(start, length)`` of the official CrossTaskAligner loop."""
    windows = []
    for start in range(0, video_len, STRIDE):
        windows.append((start, min(video_len - start, WINDOW)))
        if video_len - start <= WINDOW:
            break
    return windows


def make_video(seed, video_len, steps, segments, step_sequence):
    """One packed CrossTask video: windows, step captions and a sample."""
    gen = torch.Generator().manual_seed(seed)
    features = torch.randn(video_len, INPUT_DIM, generator=gen).numpy()
    windows = official_windows(video_len)
    rows = [build_video_rows(features, s, s + n, WINDOW) for s, n in windows]
    caps = [
        build_text_tokens(
            torch.randint(5, 40, (2 + k, ), generator=gen).tolist(), SPECIAL,
            16, WINDOW) for k in range(steps)
    ]
    targets = torch.zeros(video_len, steps)
    for step, first, last in segments:
        targets[first:last, step] = 1
    sample = BaseDataElement(
        num_video_rows=len(windows),
        num_text_rows=steps,
        window_starts=torch.tensor([s for s, _ in windows]),
        window_lengths=torch.tensor([n for _, n in windows]),
        video_len=video_len,
        targets=targets,
        step_sequence=torch.tensor(step_sequence),
        gt_assignment=targets.numpy().astype(np.uint8),
        task='t',
        vid=f'v{seed}')
    inputs = dict(
        vfeats=torch.stack([r[0] for r in rows]),
        vmasks=torch.stack([r[1] for r in rows]),
        caps=torch.stack([c[0] for c in caps]),
        cmasks=torch.stack([c[1] for c in caps]))
    return inputs, sample


def batch(*videos):
    inputs = {k: torch.cat([v[0][k] for v in videos]) for k in videos[0][0]}
    return inputs, [v[1] for v in videos]


@pytest.fixture
def videos():
    # video 0: 10 steps -> windows (0, 6), (4, 6); 3 steps annotated 0, 2, 1
    # video 1: 5 steps -> window (0, 5); one step only
    return (make_video(0, 10, 3, [(0, 1, 3), (2, 4, 7), (1, 8, 9)], [0, 2, 1]),
            make_video(1, 5, 2, [(1, 0, 2), (1, 3, 5)], [1, 1]))


@pytest.fixture
def official(tiny_bert_config):
    return oracle.official_state_dict(tiny_bert_config, 1, INPUT_DIM)


def oracle_logits(official, bert, inputs):
    """Official: windows with the dummy caption [CLS] [SEP] [PAD] [SEP] /
    masks [0, 1, 0, 1], valid frames of each window in order, @ steps^T."""
    num_windows = len(inputs['vfeats'])
    dummy = dict(
        vfeats=inputs['vfeats'],
        vmasks=inputs['vmasks'],
        caps=torch.tensor([[CLS, SEP, PAD, SEP]] * num_windows),
        cmasks=torch.tensor([[0, 1, 0, 1]] * num_windows, dtype=torch.bool))
    video = oracle.oracle_forward(official, bert, 1, WINDOW, dummy,
                                  torch.float32)['video_states']
    frames = video[:, 1:WINDOW + 1][inputs['vmasks']]
    num_steps = len(inputs['caps'])
    text_only = dict(
        vfeats=torch.zeros(num_steps, 1, INPUT_DIM),
        vmasks=torch.ones(num_steps, 1, dtype=torch.bool),
        caps=inputs['caps'],
        cmasks=inputs['cmasks'])
    steps = oracle.oracle_forward(official, bert, 1, WINDOW, text_only,
                                  torch.float32)['pooled_text']
    return frames @ steps.t()


def loaded(tiny_bert_config, official, **kwargs):
    model = build(tiny_bert_config, **kwargs)
    model.load_state_dict(convert_state_dict(official)[0])
    return model


def test_logits_equal_the_official_forward(tiny_bert_config, official, videos):
    model = loaded(tiny_bert_config, official).eval()
    inputs, samples = batch(*videos)
    with torch.no_grad():
        ours = model(inputs, samples, mode='tensor')
    for (video_inputs, _), logits in zip(videos, ours):
        want = oracle_logits(official, tiny_bert_config, video_inputs)
        assert logits.shape == want.shape
        assert torch.allclose(logits, want, atol=1e-5)


def test_predict_averages_windows_like_the_official_predictor(
        tiny_bert_config, official, videos):
    model = loaded(tiny_bert_config, official).eval()
    inputs, samples = batch(*videos)
    with torch.no_grad():
        logits = model(inputs, samples, mode='tensor')
        out = model(inputs, samples, mode='predict')
    for sample, batch_logits in zip(out, logits):
        video_len = sample.video_len
        want = torch.zeros(video_len, batch_logits.shape[1])
        counts = torch.zeros(video_len, 1)
        used = 0
        for start, length in official_windows(video_len):
            want[start:start + length] += batch_logits[used:used + length]
            counts[start:start + length] += 1
            used += length
        assert torch.allclose(sample.pred_logits, want / counts, atol=1e-6)
        assert sample.pred_logits.device.type == 'cpu'
        assert sample.task == 't' and sample.vid.startswith('v')
        assert sample.gt_assignment.shape == (video_len, batch_logits.shape[1])


def test_loss_is_the_official_bce_plus_step_alignment(tiny_bert_config,
                                                      official, videos):
    w = 0.12
    model = loaded(
        tiny_bert_config,
        official,
        alignment_loss_weight=w,
        step_alignment_loss=dict(
            type='StepAlignmentLoss',
            total_sample_size=4,
            video_sampling_multiplier=2,
            generator=torch.Generator().manual_seed(3))).train()
    inputs, samples = batch(*videos)
    losses = model.loss(inputs, samples)
    with torch.no_grad():
        logits = model(inputs, samples, mode='tensor')
    bce, align = [], []
    reference = StepAlignmentLoss(
        total_sample_size=4,
        video_sampling_multiplier=2,
        generator=torch.Generator().manual_seed(3))
    for (video_inputs, sample), video_logits in zip(videos, logits):
        # the official aligner concatenates each window's targets
        targets = torch.cat([
            sample.targets[s:s + n]
            for s, n in official_windows(sample.video_len)
        ])
        bce.append(F.binary_cross_entropy_with_logits(video_logits, targets))
        sequence = torch.unique_consecutive(sample.step_sequence)
        labelled = targets.abs().sum(1).bool()
        if len(sequence) > 1 and labelled.sum() > 1:
            with torch.no_grad():
                states = model.video_states(
                    video_inputs['vfeats'],
                    video_inputs['vmasks'],
                    attend_cls=False)[:, 1:WINDOW + 1]
                frames = states[video_inputs['vmasks']][labelled]
                steps = model.encode_text(video_inputs['caps'],
                                          video_inputs['cmasks'])
                align.append(
                    reference(steps, frames, sequence,
                              targets[labelled].argmax(1)))
        else:
            align.append(torch.tensor(0.))
    assert align[0] > 0 and align[1] == 0  # video 1 has a single step
    assert torch.allclose(
        losses['loss_bce'], (1 - w) * torch.stack(bce).mean(), atol=1e-6)
    assert torch.allclose(
        losses['loss_alignment'], w * torch.stack(align).mean(), atol=1e-6)
    sum(losses.values()).backward()
    assert model.video_encoder.videomlp.linear1.weight.grad is not None


def test_no_alignment_outside_training(tiny_bert_config, official, videos):
    model = loaded(
        tiny_bert_config,
        official,
        step_alignment_loss=dict(
            type='StepAlignmentLoss', total_sample_size=4)).eval()
    losses = model.loss(*batch(*videos))
    assert losses['loss_alignment'] == 0
    assert losses['loss_bce'] > 0


def test_bce_alone_without_an_alignment_loss(tiny_bert_config, official,
                                             videos):
    model = loaded(tiny_bert_config, official).train()
    inputs, samples = batch(videos[0])
    losses = model.loss(inputs, samples)
    with torch.no_grad():
        logits = model(inputs, samples, mode='tensor')[0]
    targets = torch.cat(
        [samples[0].targets[s:s + n] for s, n in official_windows(10)])
    assert set(losses) == {'loss_bce'}
    assert torch.allclose(
        losses['loss_bce'],
        F.binary_cross_entropy_with_logits(logits, targets),
        atol=1e-6)


def test_localizer_trains_everything_by_default(tiny_bert_config):
    model = build(tiny_bert_config)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {
        f'{t}pooler.dense.{p}'
        for t in ('video_encoder.bert.', 'text_encoder.')
        for p in ('weight', 'bias')
    }
