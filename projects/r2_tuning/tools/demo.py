"""The demo behind ``make demo``: R²-Tuning end to end on CPU, no downloads.

1. writes a small QVHighlights-format dataset whose moments are learnable
   (each query's topic is planted in the video features inside its window;
   ``vtg_plugins.testing.make_qvhighlights``) in the official cache layout;
2. scores the untrained model on the val split (the test loop);
3. trains the reduced-width R²-Tuning config through MMEngine's Runner;
4. evaluates with the QVHighlights metric (R²-Tuning protocol), writes the
   submission file ``hl_val_submission.jsonl`` and a plot of one query;
5. writes the model of ``vtg demo`` / ``vtg predict`` (``web_demo.json``:
   the trained weights ``demo_model.pth``, an inference config
   ``demo_model.py`` whose feature recipe is a random-init tiny CLIP of the
   data's widths, ``demo_clip.pt``, and a PyAV-written
   ``videos/demo_video.mp4`` with two queries ``videos/demo_queries.jsonl``);
   the model learnt synthetic features, so its
   moments on a real video show the pipeline, not a trained result;
6. prints the metrics before/after training and where everything is.

Usage::

    python projects/r2_tuning/tools/demo.py [--work-dir work_dirs/r2_tuning_demo]
        [--epochs 12] [--train-videos 240] [--val-videos 40]
"""
import argparse
import json
import os
import os.path as osp
import sys

import torch
from mmengine.config import Config

import vtg_plugins  # noqa: F401
from vtg_plugins.apis import plot_moments
from vtg_plugins.testing import make_qvhighlights
from vtg_plugins.testing.feature_pipeline import write_video
from vtg_plugins.utils import launch
from vtg_plugins.utils.io import atomic_write

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CONFIG = osp.join(REPO, 'configs', 'r2_tuning',
                  'r2_tuning_tiny_1xb32-12e_synthetic-qvhighlights.py')
#: the CLIP whose outputs have the demo data's widths (5 tokens x 64
#: channels from each of its 4 visual blocks, 64-wide text blocks): the
#: feature recipe of the web demo's model
DEMO_CLIP = dict(
    embed_dim=64,
    quick_gelu=True,
    vision_cfg=dict(
        image_size=32, layers=4, width=64, patch_size=16, head_width=32),
    text_cfg=dict(
        context_length=77, vocab_size=49408, width=64, heads=2, layers=4))
DEMO_RECIPE = dict(
    backbone='ViT-B/32',
    k=4,
    layers=[1, 2, 3, 4],
    crop=32,
    model_cfg=DEMO_CLIP)
DEMO_QUERIES = ('a red thing', 'green')
HEADLINE = ('MR-full-R1@0.5', 'MR-full-R1@0.7', 'MR-full-mAP', 'MR-full-mIoU',
            'HL-min-VeryGood-mAP')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/r2_tuning_demo')
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--epochs', type=int, default=None)
    parser.add_argument('--train-videos', type=int, default=240)
    parser.add_argument('--val-videos', type=int, default=40)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--signal',
        type=float,
        default=3.0,
        help='strength of the planted moment (noise std is 1)')
    return parser.parse_args(argv)


def set_data_root(cfg: Config, data_root: str) -> None:
    """Point every dataloader of the config at ``data_root``."""
    cfg.train_dataloader.dataset.dataset.data_root = data_root
    for name in ('val_dataloader', 'test_dataloader'):
        cfg[name].dataset.data_root = data_root
    cfg.test_dataloader.dataset.ann_file = 'qvhighlights_val.jsonl'


def build_cfg(args, data_root: str) -> Config:
    cfg = Config.fromfile(args.config)
    set_data_root(cfg, data_root)
    cfg.work_dir = osp.abspath(args.work_dir)
    cfg.randomness = dict(seed=args.seed)
    if args.epochs is not None:
        cfg.train_cfg.max_epochs = args.epochs
    cfg.val_evaluator.out_dir = cfg.work_dir
    cfg.test_evaluator = dict(cfg.val_evaluator)
    launch.adapt_amp_to_device(cfg)
    return cfg


def headline(metrics: dict) -> dict:
    return {
        k.split('/')[-1]: v
        for k, v in metrics.items() if k.split('/')[-1] in HEADLINE
    }


def plot_one(work_dir: str, data_root: str) -> str:
    """Plot the first val query: prediction vs ground truth."""
    with open(osp.join(work_dir, 'hl_val_submission.jsonl')) as f:
        pred = json.loads(f.readline())
    with open(osp.join(data_root, 'qvhighlights_val.jsonl')) as f:
        gts = {str(g['qid']): g for g in map(json.loads, f)}
    gt = gts[str(pred['qid'])]
    return plot_moments(
        osp.join(work_dir, 'demo_prediction.png'),
        pred['pred_saliency_scores'],
        clip_len=2.0,
        windows=pred['pred_relevant_windows'],
        gt_windows=gt['relevant_windows'],
        query=f"qid {pred['qid']}: {pred.get('query', '')}",
        duration=gt['duration'])


def write_web_demo(work_dir: str, config: str, model: torch.nn.Module,
                   seed: int) -> str:
    """The files of ``vtg demo`` (see the module docstring); returns the
    path of ``web_demo.json``."""
    import open_clip
    model = getattr(model, 'module', model)  # a wrapped (DDP) model
    torch.manual_seed(seed)
    clip = open_clip.CLIP(**DEMO_CLIP)
    with atomic_write(osp.join(work_dir, 'demo_clip.pt'), 'wb') as f:
        torch.save(clip.state_dict(), f)
    # no feature_recipe in the meta: the config's (the tiny CLIP) applies
    with atomic_write(osp.join(work_dir, 'demo_model.pth'), 'wb') as f:
        torch.save(dict(state_dict=model.state_dict(), meta={}), f)
    with atomic_write(
            osp.join(work_dir, 'demo_model.py'), 'w', encoding='utf-8') as f:
        f.write('# written by projects/r2_tuning/tools/demo.py: the demo '
                'model on videos\n'
                f'_base_ = [{osp.abspath(config)!r}]\n'
                f'recipe = {DEMO_RECIPE!r}\n'
                'test_dataloader = dict(dataset=dict(recipe=recipe))\n')
    videos = osp.join(work_dir, 'videos')
    os.makedirs(videos, exist_ok=True)
    write_video(osp.join(videos, 'demo_video.mp4'), 30, 10)
    # queries of the video in QVHighlights' format (`vtg extract features`)
    with atomic_write(
            osp.join(videos, 'demo_queries.jsonl'), 'w',
            encoding='utf-8') as f:
        for qid, query in enumerate(DEMO_QUERIES):
            f.write(
                json.dumps(
                    dict(
                        qid=qid, query=query, vid='demo_video', duration=30.0))
                + '\n')
    manifest = dict(
        config='demo_model.py',
        checkpoint='demo_model.pth',
        clip_checkpoint='demo_clip.pt',
        title='R²-Tuning demo model (make demo)',
        description=(
            'Trained by `make demo` on synthetic features; uploaded videos '
            'are encoded with a random-init tiny CLIP, so the moments show '
            'the pipeline, not a trained result. For real predictions: '
            '`vtg demo CONFIG CKPT --clip-checkpoint CLIP.pt`.'))
    path = osp.join(work_dir, 'web_demo.json')
    with atomic_write(path, 'w', encoding='utf-8') as f:
        json.dump(manifest, f, indent=1)
    return path


def main(argv=None) -> dict:
    args = parse_args(argv)
    data_root = osp.join(osp.abspath(args.work_dir), 'data')
    make_qvhighlights(
        data_root,
        splits=dict(train=args.train_videos, val=args.val_videos),
        num_clips=(20, 40),
        num_tokens=5,
        vis_dim=64,
        txt_dim=64,
        plant=True,
        signal=args.signal,
        num_topics=12,
        seed=args.seed)
    cfg = build_cfg(args, data_root + '/')
    runner = launch.build_runner(cfg)
    before = headline(runner.test())
    runner.train()
    after = headline(runner.test())
    plot = plot_one(cfg.work_dir, data_root)
    web_demo = write_web_demo(cfg.work_dir, args.config, runner.model,
                              args.seed)
    print('\n== R2-Tuning demo (synthetic QVHighlights, CPU) ==')
    print(f"{'metric':<22}{'untrained':>12}{'trained':>12}")
    for key in HEADLINE:
        if key in after:
            print(f'{key:<22}{before.get(key, float("nan")):>12.2f}'
                  f'{after[key]:>12.2f}')
    print(f'submission : {osp.join(cfg.work_dir, "hl_val_submission.jsonl")}')
    print(f'plot       : {plot}')
    print(f'checkpoints: {cfg.work_dir}')
    print(f'web demo   : {web_demo} (vtg demo)')
    print(f'data       : {data_root}')
    summary = dict(
        untrained=before, trained=after, plot=plot, web_demo=web_demo)
    with open(osp.join(cfg.work_dir, 'demo_metrics.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    return summary


if __name__ == '__main__':
    main()
    sys.exit(0)
