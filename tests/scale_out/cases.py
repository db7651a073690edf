"""The five methods' tiny configs as scale-out cases: the data each reads
(written under a run folder, where the configs' relative ``data/...`` paths
point), the metric that tells its validation and how short to train.

Shared by the 2-process driver (``_driver.py``, run by torchrun) and the
tests that check its results in one process.
"""
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple


class Case(NamedTuple):
    """One method's tiny run: ``make_data(folder)`` writes its data, the
    run trains ``epochs`` epochs (checkpoint and validation each) with
    ``options`` (and ``engine_options[engine]``) as ``--cfg-options``, and
    ``metric`` is the validation number the checks compare."""
    config: str
    make_data: Callable[[Path], None]
    metric: str
    options: List[str]
    engine_options: Dict[str, List[str]] = {}
    epochs: int = 2


def _r2_tuning(folder: Path) -> None:
    from vtg_plugins.testing import make_qvhighlights
    make_qvhighlights(
        folder / 'data/demo_qvhighlights',
        splits=dict(train=8, val=5),
        num_clips=(10, 20),
        num_tokens=5,
        vis_dim=64,
        txt_dim=64,
        num_topics=4,
        seed=1)


def _groundnlq(folder: Path) -> None:
    from vtg_plugins.testing import make_ego4d_nlq
    make_ego4d_nlq(
        folder / 'data/synthetic_ego4d_nlq',
        splits=dict(train=8, val=5),
        vid_dim=64,
        txt_dim=32,
        num_topics=4,
        seed=1)


def _tstl(folder: Path) -> None:
    from vtg_plugins.testing.action_videos import make_action_videos
    make_action_videos(
        str(folder / 'data/tstl_synthetic'),
        splits=dict(train=2, val=1),
        num_classes=4,
        num_frames=8,
        size=(40, 48))


def _tempclr(folder: Path) -> None:
    from vtg_tempclr.synthetic_data import write_synthetic_data
    write_synthetic_data(folder / 'data/tempclr_synthetic')


def _hd_vila(folder: Path) -> None:
    from vtg_hd_vila.testing import make_retrieval_data
    make_retrieval_data(folder / 'data/hd_vila_synthetic/retrieval')


CASES: Dict[str, Case] = dict(
    r2_tuning=Case(
        'configs/r2_tuning/r2_tuning_tiny_1xb32-12e_synthetic-qvhighlights.py',
        _r2_tuning,
        'qvhighlights/MR-full-mAP',
        ['train_dataloader.batch_size=4'],
        # the streamed frames' selective checkpointing replays ops that
        # ZeRO-3's parameter gathering interleaves: stream unchunked
        dict(zero3=['model.chunk_tokens=0'])),
    groundnlq=Case(
        'configs/groundnlq/groundnlq_tiny_1xb2-3e_synthetic-ego4d-nlq.py',
        _groundnlq, 'ego4d_nlq/R@1_IoU0.3', []),
    tstl=Case('configs/tstl/tstl_tiny_1xb4-6e_synthetic-videos.py', _tstl,
              'acc/top1', []),
    tempclr=Case('configs/tempclr/tempclr_tiny_1xb1-2e_synthetic-shards.py',
                 _tempclr, 'youcook2/t2v_R1', []),
    hd_vila=Case(
        'configs/hd_vila/hd_vila_tiny-retrieval_1xb2-2e_synthetic-msrvtt.py',
        _hd_vila, 'msrvtt/t2v_R1', []),
)

# the engines every case runs on: DDP (no strategy) and the fp32 overlays
# of DeepSpeed ZeRO-2 / ZeRO-3 and FSDP (fp32, so one process can test the
# weights to the same metric; the bf16 paths have their own tests)
ENGINES: Dict[str, str] = dict(
    ddp='',
    zero2='deepspeed_zero2',
    fsdp='fsdp',
    zero3='deepspeed_zero3',
)
