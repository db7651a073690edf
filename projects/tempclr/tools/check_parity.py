"""Check vtg_tempclr's dual encoder against outputs of the official model.

Usage::

    python projects/tempclr/tools/check_parity.py FIXTURE [--atol X]

``FIXTURE`` is a ``torch.save``d dict made by running the official
``MMFusionSeparate`` (``forward(caps, cmasks, vfeats, vmasks)``):

- ``state_dict``: the official weights (``mmmodel.*`` keys as in the
  fairseq checkpoint's ``model`` entry, or the same names without the
  prefix);
- ``config``: the official model's sizes: the ``BertConfig`` keys
  ``hidden_size``, ``num_attention_heads``, ``intermediate_size``,
  ``num_hidden_layers`` (text tower), ``vocab_size``,
  ``max_position_embeddings`` and MMPT's ``num_hidden_video_layers`` and
  ``max_video_len`` (required); ``type_vocab_size``, ``hidden_act``,
  ``layer_norm_eps``, ``pad_token_id``, ``input_dim`` (default 512, as
  official) (optional);
- ``inputs``: ``vfeats [N, Lv, D]`` float, ``vmasks [N, Lv]`` bool,
  ``caps [N, Lt]`` long (``[CLS] [SEP] tokens [SEP] [PAD]..``), ``cmasks
  [N, Lt]`` bool;
- ``outputs``: ``pooled_video [N, H]`` and ``pooled_text [N, H]``;
- ``meta`` (optional, free text).

The weights go through :func:`vtg_tempclr.converters.convert_state_dict`
and load strictly into a ``TempCLRDualEncoder`` built from ``config``
(eager attention, eval mode, float32). ``pooled_video`` is the video
tower on ``caps[:, :2]`` / ``cmasks[:, :2]`` (what the official
``forward_video`` reads), ``pooled_text`` the text tower. A field the
checker does not know, a missing one, another shape or a value outside
``atol`` fails. Prints one JSON object ``{field: max_abs_diff, ...,
"ok": bool}`` (:class:`vtg_plugins.testing.parity.ParityReport`) and exits
1 on failure.
"""
import argparse
import contextlib
import sys
from typing import List, Optional

import torch

from vtg_plugins.testing.parity import ParityReport

# stdout carries only the JSON report: libraries that log to stdout while
# importing are sent to stderr
with contextlib.redirect_stdout(sys.stderr):
    import vtg_tempclr  # noqa: F401  (registers the models)
    from vtg_plugins.registry import MODELS
    from vtg_tempclr.converters import convert_state_dict
    from vtg_tempclr.models.pooling import pool_video_states
    from vtg_tempclr.models.weight_loading import load_checked

DEFAULT_ATOL = 1e-5
FIXTURE_FIELDS = ('state_dict', 'config', 'inputs', 'outputs')
INPUTS = ('vfeats', 'vmasks', 'caps', 'cmasks')
OUTPUTS = ('pooled_video', 'pooled_text')
#: required / optional ``config`` keys that are ``BertConfig`` kwargs
BERT_REQUIRED = ('hidden_size', 'num_attention_heads', 'intermediate_size',
                 'num_hidden_layers', 'vocab_size', 'max_position_embeddings')
BERT_OPTIONAL = ('type_vocab_size', 'hidden_act', 'layer_norm_eps',
                 'pad_token_id')
#: MMPT's own config keys
MMPT_REQUIRED = ('num_hidden_video_layers', 'max_video_len')
MMPT_OPTIONAL = ('input_dim', )


def build_model(config: dict, caps: torch.Tensor) -> torch.nn.Module:
    """Our dual encoder for the official sizes, eager attention, eval."""
    bert = {k: config[k] for k in BERT_REQUIRED + BERT_OPTIONAL if k in config}
    return MODELS.build(
        dict(
            type='TempCLRDualEncoder',
            bert_config=dict(bert, attn_implementation='eager'),
            video_layers=int(config['num_hidden_video_layers']),
            input_dim=int(config.get('input_dim', 512)),
            max_video_len=int(config['max_video_len']),
            cls_token_id=int(caps[0, 0]),
            sep_token_id=int(caps[0, 1]),
            trainable='all')).eval()


def run_model(model: torch.nn.Module, inputs: dict) -> dict:
    """``pooled_video`` and ``pooled_text`` as the official forward."""
    vfeats, vmasks = inputs['vfeats'].float(), inputs['vmasks'].bool()
    caps, cmasks = inputs['caps'].long(), inputs['cmasks'].bool()
    with torch.no_grad():
        states = model.video_encoder(vfeats, vmasks, caps[:, :2],
                                     cmasks[:, :2])
        return dict(
            pooled_video=pool_video_states(states, vmasks),
            pooled_text=model.encode_text(caps, cmasks))


def check(fixture: dict, atol: float = DEFAULT_ATOL) -> ParityReport:
    """Compare our model with every output of ``fixture``."""
    report = ParityReport(atol)
    if not report.check_fields('fixture', fixture, FIXTURE_FIELDS, ('meta', )):
        return report
    config, inputs = fixture['config'], fixture['inputs']
    fields_ok = [
        report.check_fields('config', config, BERT_REQUIRED + MMPT_REQUIRED,
                            BERT_OPTIONAL + MMPT_OPTIONAL),
        report.check_fields('inputs', inputs, INPUTS),
        report.check_fields('outputs', fixture['outputs'], OUTPUTS)
    ]
    if not all(fields_ok):
        return report
    try:
        model = build_model(config, inputs['caps'])
    except ValueError as e:
        report.fail('config', str(e))
        return report
    try:
        state_dict, _ = convert_state_dict(fixture['state_dict'],
                                           'the fixture state_dict')
        load_checked(model, state_dict, 'the fixture state_dict')
    except ValueError as e:
        report.fail('state_dict', str(e))
        return report
    ours = run_model(model, inputs)
    for field in OUTPUTS:
        report.compare(field, ours[field], fixture['outputs'][field])
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
