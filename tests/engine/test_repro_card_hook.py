"""ReproducibilityCardHook through tools/train.py: the card is logged once,
written to the work dir and saved in every checkpoint; with 2 gloo
processes, and on DeepSpeed and FSDP (one process)."""
import json

import pytest
import torch

from vtg_plugins.utils.strategy_checkpoints import read_deepspeed


def _card(work_dir):
    return json.loads((work_dir / 'repro_card.json').read_text())


def _meta(path):
    return torch.load(path, map_location='cpu', weights_only=False)['meta']


def test_training_writes_the_card_and_every_checkpoint_holds_it(
        tmp_path, repo, smoke_config, run_cmd):
    wd = tmp_path / 'wd'
    proc = run_cmd([
        'python', repo / 'tools' / 'train.py', smoke_config, '--work-dir', wd,
        '--cfg-options', 'train_cfg.max_epochs=2'
    ],
                   cwd=tmp_path)
    assert proc.stdout.count('Reproducibility card') == 1
    card = _card(wd)
    assert card['batch']['global_batch'] == 4
    assert card['config']['sha256'] in proc.stdout
    checkpoints = sorted(wd.glob('*.pth'))
    assert {p.name for p in checkpoints} >= {'epoch_1.pth', 'epoch_2.pth'}
    assert any(p.name.startswith('best_') for p in checkpoints)
    for path in checkpoints:
        assert _meta(path)['repro_card'] == card, path.name


@pytest.mark.slow
def test_two_gloo_processes_double_the_global_batch(tmp_path, repo,
                                                    smoke_config, run_cmd):
    wd = tmp_path / 'wd'
    run_cmd([
        repo / 'tools' / 'dist_train.sh', smoke_config, 2, '--work-dir', wd,
        '--auto-scale-lr', '--cfg-options', 'train_cfg.max_epochs=1'
    ],
            cwd=tmp_path,
            env=dict(PORT='29751'))
    card = _card(wd)
    assert card['batch']['world_size'] == 2
    assert card['batch']['global_batch'] == 8  # 2 GPUs x 4
    assert card['batch']['name'] == dict(field='1xb4', matches=False)
    assert card['engine']['strategy'] == 'DDP'
    assert card['engine']['launcher'] == 'pytorch'
    assert card['lr']['auto_scale_lr']['ratio'] == 2.0
    assert card['lr']['optimizer'] == [pytest.approx(0.1)]
    assert _meta(wd / 'epoch_1.pth')['repro_card'] == card


@pytest.mark.slow
@pytest.mark.parametrize('engine', ['deepspeed_zero2', 'fsdp'])
def test_card_on_deepspeed_and_fsdp(tmp_path, repo, smoke_config, run_cmd,
                                    engine):
    wd = tmp_path / 'wd'
    port = dict(deepspeed_zero2='29752', fsdp='29753')[engine]
    run_cmd([
        repo / 'tools' / 'dist_train.sh', smoke_config, 1, '--work-dir', wd,
        '--strategy', engine, '--auto-scale-lr', '--cfg-options',
        'train_cfg.max_epochs=1', 'train_dataloader.batch_size=8',
        'optim_wrapper.accumulative_counts=2'
    ],
            cwd=tmp_path,
            env=dict(PORT=port, DS_ACCELERATOR='cpu'))
    card = _card(wd)
    batch, lr = card['batch'], card['lr']
    assert (batch['per_gpu'], batch['accumulation']) == (8, 2)
    assert batch['global_batch'] == 16
    assert lr['scaled'] == pytest.approx(0.1)  # 0.05 x 8 / 4
    # both engines scaled it (DeepSpeed through vtg_plugins.compat)
    assert lr['optimizer'] == [pytest.approx(0.1)]
    assert card['warnings'] == []
    if engine == 'fsdp':
        assert card['engine']['strategy'] == 'FSDPStrategy'
        meta = _meta(wd / 'epoch_1.pth')
    else:
        assert batch['accumulation_from'] == \
            'strategy.gradient_accumulation_steps'
        assert card['engine']['zero_stage'] == 2
        assert card['engine']['precision'] == 'bf16'  # fp16 on CPU -> bf16
        meta = read_deepspeed(str(wd / 'epoch_1.pth'))[0]['meta']
    assert meta['repro_card'] == card
