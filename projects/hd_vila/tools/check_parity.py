"""Check our HD-VILA models against outputs of the official model.

Usage::

    python projects/hd_vila/tools/check_parity.py FIXTURE [--atol X]

No fixture made by the official model exists in the references yet (the
official ``HDVILA`` imports mmcv 1.x and apex, which this stack lacks). The
tests run this checker only on fixtures they write from **our own** model:
that checks the plumbing (conversion, model building, input layout, field
comparison), and a pass on such a fixture is no parity evidence. A fixture
written by the official code in the format below makes it a parity check.

``FIXTURE`` is a ``torch.save``\\ d dict:

- ``model``: ``stage1``, ``stage2``, ``retrieval``, ``qa``, ``mc`` or
  ``msrvtt_mc`` (the ``--model`` names of ``convert_official.py``);
- ``state_dict``: the official ``HDVILA`` state dict (``model.state_dict()``
  of the official model, as ``ModelSaver`` writes it);
- ``config``: what the weights do not tell: ``num_attention_heads`` (BERT),
  ``timesformer_heads``, ``grid_size`` ``[H, W]`` of the TimeSformer
  position table (required); ``score_agg_func`` (stage2 / qa / mc),
  ``bert_mean`` (stage1 / stage2 / retrieval / msrvtt_mc),
  ``layer_norm_eps``, ``hidden_act`` (optional);
- ``inputs``: the official ``HDVILA.forward`` arguments: ``img_middle``
  uint8 ``[B, clips, 3, Hk, Wk]``, ``img_other`` uint8 ``[B, clips, T-1, 3,
  Hl, Wl]`` (RGB 0..255; the official model normalises them itself),
  ``text_input_ids`` / ``text_input_mask`` long ``[R, L]`` with ``R = B``
  (caption, question) or ``R = B * K`` option rows, video-major (mc,
  msrvtt_mc);
- ``outputs`` (official model in eval mode): stage1 / retrieval / stage2
  ``text_features`` ``[B, H]`` and ``vis_features`` ``[B, H]`` of the
  returned dict; stage2 optionally ``prediction_scores`` ``[B, L, V]`` and
  ``seq_relationship`` ``[B, 2]`` (the official forward does not return
  them: record the output of ``model.transformer.cls`` with a forward hook,
  ``mlm_labels=None``); qa / mc ``logits`` ``[clips, B, K]``; msrvtt_mc
  ``scores`` ``[B, K]`` (the ``bmm`` of ``run_msrvtt_mc.py``);
- ``meta`` (optional, free text).

The weights go through :func:`vtg_hd_vila.converters.convert_state_dicts`
(nothing may be left at init) and load strictly into our model built with
the sizes they show and ``config`` (eager BERT attention, unfused
TimeSformer attention, eval mode, float32); the images go through our
``HDVILADataPreprocessor``, the outputs are our ``mode='tensor'`` ones. A
field the checker does not know, a missing one, another shape or a value
outside ``atol`` fails. Prints one JSON object ``{field: max_abs_diff, ...,
"ok": bool}`` (:class:`vtg_plugins.testing.parity.ParityReport`) and exits
1 on failure.
"""
import argparse
import contextlib
import copy
import sys
from typing import List, Optional

import torch

from vtg_plugins.testing.parity import ParityReport

# stdout carries only the JSON report: libraries that log to stdout while
# importing are sent to stderr
with contextlib.redirect_stdout(sys.stderr):
    from mmengine.structures import BaseDataElement

    import vtg_hd_vila  # noqa: F401  (registers the models)
    from vtg_hd_vila.converters import (TARGETS, convert_state_dicts,
                                        load_state)
    from vtg_plugins.registry import MODELS

DEFAULT_ATOL = 1e-4
FIXTURE_FIELDS = ('model', 'state_dict', 'config', 'inputs', 'outputs')
INPUTS = ('img_middle', 'img_other', 'text_input_ids', 'text_input_mask')
CONFIG_REQUIRED = ('num_attention_heads', 'timesformer_heads', 'grid_size')
CONFIG_OPTIONAL = ('score_agg_func', 'bert_mean', 'layer_norm_eps',
                   'hidden_act')
FEATURES = ('text_features', 'vis_features')
#: model -> (required outputs, optional outputs)
OUTPUTS = dict(
    stage1=(FEATURES, ()),
    retrieval=(FEATURES, ()),
    stage2=(FEATURES, ('prediction_scores', 'seq_relationship')),
    qa=(('logits', ), ()),
    mc=(('logits', ), ()),
    msrvtt_mc=(('scores', ), ()))
OPTION_ROWS = ('mc', 'msrvtt_mc')


def build_model(model: str, sizes: dict, config: dict) -> torch.nn.Module:
    """Our ``model`` with the converted weights' ``sizes`` and the
    fixture's ``config``, for parity (eager / unfused attention, eval)."""
    cfg = copy.deepcopy(sizes)
    cfg['bert_config'].update(
        num_attention_heads=int(config['num_attention_heads']),
        attn_implementation='eager',
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        **{
            k: config[k]
            for k in ('layer_norm_eps', 'hidden_act') if k in config
        })
    cfg['video_encoder'].update(
        timesformer_heads=int(config['timesformer_heads']),
        grid_size=tuple(int(s) for s in config['grid_size']),
        fused_attn=False)
    cfg.update(
        {k: config[k]
         for k in ('score_agg_func', 'bert_mean') if k in config})
    return MODELS.build(cfg).eval()


def make_batch(model: str, inputs: dict) -> dict:
    """The official inputs as our raw batch (one data sample per video)."""
    ids = inputs['text_input_ids'].long()
    mask = inputs['text_input_mask'].long()
    videos = inputs['img_middle'].shape[0]
    if len(ids) % videos or (model not in OPTION_ROWS and len(ids) != videos):
        raise ValueError(f'{len(ids)} text rows for {videos} videos')
    rows = len(ids) // videos
    samples = []
    for i in range(videos):
        part = slice(i * rows, (i + 1) * rows)
        if model in OPTION_ROWS:
            samples.append(
                BaseDataElement(option_ids=ids[part], option_mask=mask[part]))
        else:
            samples.append(BaseDataElement(text_ids=ids[i], text_mask=mask[i]))
    return dict(
        inputs=dict(
            keyframes=inputs['img_middle'], frames=inputs['img_other']),
        data_samples=samples)


def check(fixture: dict, atol: float = DEFAULT_ATOL) -> ParityReport:
    """Compare our model with every output of ``fixture``."""
    report = ParityReport(atol)
    if not report.check_fields('fixture', fixture, FIXTURE_FIELDS, ('meta', )):
        return report
    model = fixture['model']
    if model not in TARGETS:
        report.fail('model', f'{model!r} is none of {sorted(TARGETS)}')
        return report
    required, optional = OUTPUTS[model]
    fields_ok = [
        report.check_fields('config', fixture['config'], CONFIG_REQUIRED,
                            CONFIG_OPTIONAL),
        report.check_fields('inputs', fixture['inputs'], INPUTS),
        report.check_fields('outputs', fixture['outputs'], required, optional)
    ]
    if not all(fields_ok):
        return report
    source = 'the fixture state_dict'
    try:
        conversion = convert_state_dicts([(source, fixture['state_dict'])],
                                         model)
        if conversion.init_groups:
            raise ValueError(f'{source} leaves {conversion.init_groups} at '
                             'the model\'s init')
    except ValueError as e:
        report.fail('state_dict', str(e))
        return report
    try:
        ours = build_model(model, conversion.config, fixture['config'])
    except (ValueError, TypeError) as e:
        report.fail('config', str(e))
        return report
    try:
        load_state(ours, conversion.state_dict, (), source)
    except ValueError as e:  # e.g. a grid_size of another area
        report.fail('state_dict', str(e))
        return report
    try:
        data = make_batch(model, fixture['inputs'])
        with torch.no_grad():
            outputs = ours(
                **ours.data_preprocessor(data, False), mode='tensor')
    except ValueError as e:
        report.fail('inputs', str(e))
        return report
    for field, ref in fixture['outputs'].items():
        report.compare(field, outputs[field], ref)
    return report


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('fixture')
    parser.add_argument('--atol', type=float, default=DEFAULT_ATOL)
    args = parser.parse_args(argv)
    fixture = torch.load(args.fixture, map_location='cpu', weights_only=False)
    return check(fixture, args.atol).emit()


if __name__ == '__main__':
    sys.exit(main())
