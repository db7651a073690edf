"""Check vtg_tstl against outputs of the official TSTL / CAST model.

Usage::

    python projects/tstl/tools/check_parity.py FIXTURE [--atol X]

``FIXTURE`` is a ``torch.save``d dict made by running the official
``STCrossTransformer``: ``meta`` (free text), ``input`` (clips
``[N, C, T, H, W]``) and one entry per variant, ``compo`` and / or
``bidir``, each with ``init_args`` (the official constructor's kwargs),
``state_dict`` (official weights), ``pos_embed`` (the VideoMAE sinusoid
table), ``features`` (``s_x_cls_mean_ln_post``, ``t_x_mean_fc_norm``),
``per_block`` (``{s_x: [1+P, N*T', D], t_x: [N, T'*P, D]}`` after each
block) and ``output`` (bidir ``[N, C]``; compo ``(noun, verb)``).

Each variant present is built from its ``init_args``
(:func:`vtg_tstl.converters.official_to_kwargs`), loads the weights through
:func:`vtg_tstl.converters.convert_state_dict` (strictly) and runs in eval
mode, fp32; our CLIP tokens ``[N*T', 1+P, D]`` are compared in the official
layout. Every field is compared; a field the checker does not know, a
missing one, another structure or shape fails. Prints one JSON object
``{field: max_abs_diff, ..., "ok": bool}``
(:class:`vtg_plugins.testing.parity.ParityReport`) and exits 1 on failure.
"""
import argparse
import contextlib
import sys
from typing import List, Optional

import torch

from vtg_plugins.testing.parity import ParityReport

# stdout carries only the JSON report: libraries that log to stdout while
# importing (DeepSpeed's accelerator notice) are sent to stderr
with contextlib.redirect_stdout(sys.stderr):
    from mmengine.registry import DefaultScope

    import vtg_tstl  # noqa: F401  (registers the model)
    from vtg_plugins.registry import MODELS
    from vtg_tstl.converters import convert_state_dict, official_to_kwargs

DEFAULT_ATOL = 1e-5
VARIANTS = dict(compo=True, bidir=False)  # name -> composition
VARIANT_FIELDS = ('init_args', 'state_dict', 'pos_embed', 'features',
                  'per_block', 'output')
#: official feature name -> index in the backbone's output
FEATURES = dict(s_x_cls_mean_ln_post=0, t_x_mean_fc_norm=1)


def build_model(init_args: dict) -> torch.nn.Module:
    """Our ``Recognizer3D`` for official kwargs, in eval mode."""
    cfg = official_to_kwargs(init_args)
    with DefaultScope.overwrite_default_scope('vtg_plugins'):
        return MODELS.build(dict(type='Recognizer3D', **cfg)).eval()


def load_official(model: torch.nn.Module, state_dict: dict,
                  composition: bool) -> None:
    """Load converted official weights, strictly."""
    model.load_state_dict(convert_state_dict(state_dict, composition))


def run_model(model: torch.nn.Module, clips: torch.Tensor) -> dict:
    """``features``, ``per_block`` (official layouts) and ``output``."""
    blocks = []
    hooks = [
        b.register_forward_hook(lambda m, i, o: blocks.append(o))
        for b in model.backbone.blocks
    ]
    try:
        with torch.no_grad():
            feats = model.backbone(clips.float())
            output = model.cls_head(feats)
    finally:
        for h in hooks:
            h.remove()
    return dict(
        features=feats,
        per_block=[dict(s_x=s.transpose(0, 1), t_x=t) for s, t in blocks],
        output=output)


def check_variant(report: ParityReport, name: str, ref: dict,
                  clips: torch.Tensor) -> None:
    """Compare one variant's fields (``{name}.{field}``)."""
    if not report.check_fields(name, ref, VARIANT_FIELDS):
        return
    composition = bool(ref['init_args'].get('composition', False))
    if composition != VARIANTS[name]:
        report.fail(f'{name}.init_args', f'composition={composition} in '
                    f'the {name!r} variant')
        return
    try:
        model = build_model(ref['init_args'])
    except ValueError as e:  # kwargs we do not know or implement
        report.fail(f'{name}.init_args', str(e))
        return
    try:
        load_official(model, ref['state_dict'], composition)
    except (ValueError, RuntimeError) as e:  # other keys or shapes
        report.fail(f'{name}.state_dict', str(e))
        return
    ours = run_model(model, clips)
    report.compare(f'{name}.pos_embed', model.backbone.pos_embed,
                   ref['pos_embed'])
    if report.check_fields(f'{name}.features', ref['features'], FEATURES):
        for field, index in FEATURES.items():
            report.compare(f'{name}.features.{field}', ours['features'][index],
                           ref['features'][field])
    report.compare(f'{name}.per_block', ours['per_block'], ref['per_block'])
    report.compare(f'{name}.output', ours['output'], ref['output'])


def check(fixture: dict, atol: float = DEFAULT_ATOL) -> ParityReport:
    """Compare our model with every variant and field of ``fixture``."""
    report = ParityReport(atol)
    if not report.check_fields('fixture', fixture, ('input', ),
                               ('meta', ) + tuple(VARIANTS)):
        return report
    present = [v for v in VARIANTS if v in fixture]
    if not present:
        report.fail('fixture', f'no variant ({", ".join(VARIANTS)})')
    for name in present:
        check_variant(report, name, fixture[name], fixture['input'])
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
