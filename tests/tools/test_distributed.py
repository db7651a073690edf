"""tools/dist_train.sh and tools/dist_test.sh with 2 CPU processes (gloo)."""
import torch

from vtg_plugins.testing.configs import write_config


def test_dist_train_gives_identical_weights_on_both_ranks(
        tmp_path, repo, smoke_config, run_cmd):
    cfg = write_config(tmp_path / 'dist.py', smoke_config,
                       "custom_hooks = [dict(type='SaveRankWeightsHook')]")
    wd = tmp_path / 'wd'
    proc = run_cmd([repo / 'tools' / 'dist_train.sh', cfg, 2, '--work-dir',
                    wd], cwd=tmp_path, env=dict(PORT='29731'))
    assert 'Epoch(train) [4]' in proc.stdout
    rank0 = torch.load(wd / 'weights_rank0.pth')
    rank1 = torch.load(wd / 'weights_rank1.pth')
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    # the checkpoint holds the same trained weights
    ckpt = torch.load(wd / 'epoch_4.pth', weights_only=False)['state_dict']
    assert torch.equal(ckpt['linear.weight'], rank0['linear.weight'])


def test_dist_test_equals_single_process(tmp_path, repo, smoke_config,
                                         run_cmd, read_metrics):
    wd = tmp_path / 'wd'
    run_cmd(['python', repo / 'tools' / 'train.py', smoke_config,
             '--work-dir', wd, '--cfg-options', 'train_cfg.max_epochs=1'],
            cwd=tmp_path)
    ckpt = wd / 'epoch_1.pth'
    single = read_metrics(run_cmd(['python', repo / 'tools' / 'test.py',
                                   smoke_config, ckpt, '--work-dir',
                                   tmp_path / 't1']).stdout)
    dist = read_metrics(run_cmd([repo / 'tools' / 'dist_test.sh',
                                 smoke_config, ckpt, 2, '--work-dir',
                                 tmp_path / 't2'],
                                env=dict(PORT='29732')).stdout)
    # 11 samples over 2 ranks: the sampler pads one, the metric must not
    # count it (nor drop any)
    assert dist['toy/num_results'] == 11
    assert dist['toy/num_samples'] == 11
    assert dist == single
