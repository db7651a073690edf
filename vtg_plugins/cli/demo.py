"""``vtg demo``: serve the moment-retrieval web page on this machine.

With ``CONFIG CKPT`` it serves that grounding model; without them the
model ``make demo`` trains (the files its demo writes into
``work_dirs/r2_tuning_demo``, listed in ``web_demo.json``: ``config``,
``checkpoint``, ``clip_checkpoint``, ``title``, ``description``).
"""
import json
import os
import os.path as osp
import sys
from typing import List, Optional

from ._command import command_parser

SUMMARY = ('serve a local web page: upload a video, type queries, see the '
           'moments (default: the model `make demo` trains)')
EXAMPLE = """
vtg demo --port 7860
vtg demo work_dirs/r2_tuning_demo/demo_model.py \
work_dirs/r2_tuning_demo/demo_model.pth \
--clip-checkpoint work_dirs/r2_tuning_demo/demo_clip.pt --port 7860
"""
#: where ``make demo`` leaves its model
DEFAULT_DEMO_DIR = osp.join('work_dirs', 'r2_tuning_demo')
DEMO_MANIFEST = 'web_demo.json'


def build_parser():
    parser = command_parser('demo', SUMMARY, EXAMPLE)
    parser.add_argument('config', nargs='?', help='model config')
    parser.add_argument(
        'checkpoint', nargs='?', help='model checkpoint (path or URL)')
    parser.add_argument(
        '--clip-checkpoint',
        help='local CLIP weights of the feature recipes (never downloaded)')
    parser.add_argument(
        '--demo-dir',
        default=DEFAULT_DEMO_DIR,
        help=f'without CONFIG CKPT: the folder whose {DEMO_MANIFEST} names '
        'the model (default: the one `make demo` writes)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=7860)
    return parser


def demo_model(demo_dir: str) -> dict:
    """The model of a demo folder: its manifest with the paths resolved
    against the folder.

    Raises:
        FileNotFoundError: no manifest (``make demo`` not run yet), or a
            file it names is missing.
        ValueError: the manifest lacks ``config`` or ``checkpoint``.
    """
    path = osp.join(demo_dir, DEMO_MANIFEST)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} not found: run `make demo` first (it trains the demo '
            'model), or give CONFIG CKPT')
    with open(path, encoding='utf-8') as f:
        manifest = json.load(f)
    for key in ('config', 'checkpoint'):
        if not manifest.get(key):
            raise ValueError(f'{path}: no {key!r} entry')
    for key in ('config', 'checkpoint', 'clip_checkpoint'):
        if manifest.get(key):
            manifest[key] = osp.join(demo_dir, manifest[key])
            if not osp.isfile(manifest[key]):
                raise FileNotFoundError(
                    f'{path}: its {key} {manifest[key]} is missing')
    return manifest


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.config is None) != (args.checkpoint is None):
        parser.error('give both CONFIG and CKPT, or neither')
    try:
        import gradio  # noqa: F401
    except ImportError:
        print(
            'error: the web demo needs Gradio: pip install '
            '"vtg_plugins[demo]"',
            file=sys.stderr)
        return 1
    os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')
    from vtg_plugins.apis import MomentRetrievalInferencer
    from vtg_plugins.webdemo.app import build_page
    try:
        if args.config is None:
            model = demo_model(args.demo_dir)
        else:
            model = dict(
                config=args.config,
                checkpoint=args.checkpoint,
                clip_checkpoint=args.clip_checkpoint)
        if args.clip_checkpoint:
            model['clip_checkpoint'] = args.clip_checkpoint
        inferencer = MomentRetrievalInferencer(
            model['config'],
            model['checkpoint'],
            device=args.device,
            clip_checkpoint=model.get('clip_checkpoint'))
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    title = model.get('title') or 'vtg demo: ' + osp.basename(model['config'])
    page = build_page(inferencer, title, model.get('description', ''))
    print(
        f'vtg demo: serving {model["config"]} on '
        f'http://{args.host}:{args.port}',
        flush=True)
    page.queue().launch(
        server_name=args.host,
        server_port=args.port,
        share=False,
        inbrowser=False,
        show_api=False)
    return 0
