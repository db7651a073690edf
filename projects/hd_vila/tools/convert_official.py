"""Convert official HD-VILA weights to one of our HD-VILA models.

Usage::

    python projects/hd_vila/tools/convert_official.py IN [IN ...] OUT \\
        --model {stage1,stage2,retrieval,qa,mc,msrvtt_mc}

``IN`` are official files: an e2e checkpoint (``hdvila_stage1.pt``,
``hdvila_stage2.pt``, a retrieval / QA / MC fine-tune), and / or the CNN
file (``res50_mmdetection.pth``) and the BERT file
(``bert-large-uncased/pytorch_model.bin`` or its folder) the official runs
start from; CNN and BERT files are applied first, the e2e checkpoint over
them (as ``load_separate_ckpt`` then ``e2e_weights_path``). Examples:

- ``hdvila_stage2.pt OUT --model qa``: the official QA fine-tuning start
  (the classifier keeps the model's init);
- ``msrvtt_retrieval.pt OUT --model msrvtt_mc``;
- ``res50_mmdetection.pth bert-large-uncased OUT --model stage1``: the
  official stage-1 start;
- ``res50_mmdetection.pth bert-large-uncased hdvila_stage1.pt OUT --model
  stage2``: the official stage-2 start (MLM head from BERT).

``OUT`` is an MMEngine checkpoint (``meta`` + ``state_dict``, float32,
written atomically) for ``init_cfg=dict(type='Pretrained', checkpoint=OUT)``
or ``load_from``; ``meta`` holds the sizes read from the weights (the
model's config must agree), the dropped official keys with their reasons
and the parts left at the model's init (``init_groups``). The conversion is
:func:`vtg_hd_vila.converters.convert_checkpoint`. Exits 1 with the error on
stderr when a file does not fit.
"""
import argparse
import collections
import json
import sys
from typing import List, Optional

from vtg_hd_vila.converters import TARGETS, convert_checkpoint


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'paths',
        nargs='+',
        metavar='PATH',
        help='IN [IN ...] OUT: official files, then the output checkpoint')
    parser.add_argument('--model', required=True, choices=sorted(TARGETS))
    args = parser.parse_args(argv)
    if len(args.paths) < 2:
        parser.error('give at least one official file and the output')
    *sources, dst = args.paths
    try:
        conversion = convert_checkpoint(sources, dst, args.model)
    except (ValueError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'wrote {dst}: {len(conversion.state_dict)} tensors for '
          f'{TARGETS[args.model]}; sizes {json.dumps(conversion.config)}')
    for info in conversion.sources:
        reasons = collections.Counter(info['dropped'].values())
        kind = ' '.join(info[k] for k in ('kind', 'flavour') if k in info)
        print(f'  {info["path"]} ({kind}): dropped {dict(reasons)}')
    if conversion.init_groups:
        print('  left at the model\'s init: '
              f'{", ".join(conversion.init_groups)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
