"""Convert an official TempCLR / VideoCLIP checkpoint to ours.

Usage::

    python projects/tempclr/tools/convert_official.py IN OUT

``IN`` is a checkpoint of the official code (``checkpoint_best.pt``,
``checkpoint_layernorm_DTW.pt``, ``checkpoint_layernorm_OTAM.pt``,
``checkpoint_allparameters_DTW.pt``: fairseq files whose ``model`` entry
holds ``mmmodel.*`` keys). ``OUT`` is an MMEngine checkpoint (``meta`` +
``state_dict`` in ``TempCLRDualEncoder`` keys, float32) for ``load_from``
or ``init_cfg=dict(type='Pretrained', checkpoint=OUT)``; it also fits
``TempCLRStepLocalizer``. The conversion is
:func:`vtg_tempclr.converters.convert_checkpoint`; ``meta['config']`` holds
the sizes read from the weights (the model's ``bert_config``,
``video_layers`` and ``input_dim`` must agree with them).
"""
import argparse
import json
import sys
from typing import List, Optional

from vtg_tempclr.converters import convert_checkpoint, infer_config


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint')
    parser.add_argument('dst', help='output MMEngine checkpoint')
    args = parser.parse_args(argv)
    try:
        state_dict = convert_checkpoint(args.src, args.dst)
    except (ValueError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'wrote {args.dst}: {len(state_dict)} tensors, sizes '
          f'{json.dumps(infer_config(state_dict))}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
