"""vtg_plugins.engine.activation_checkpointing: same outputs and gradients,
less kept, names untouched; typos refused; the train tool's switch."""
import copy
import re
import sys

import pytest
import torch
from torch import nn

from vtg_plugins.engine import apply_activation_checkpointing


class Block(nn.Module):

    def __init__(self, dim):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)
        self.calls = 0

    def forward(self, x, scale=1.0):
        self.calls += 1
        return x + scale * self.fc2(torch.relu(self.fc1(x)))


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(Block(8), nn.LayerNorm(8), Block(8))


def _grads(net, x):
    out = net[2](net[1](net[0](x, scale=0.5)))
    out.pow(2).sum().backward()
    return out.detach(), {n: p.grad.clone() for n, p in net.named_parameters()}


def test_same_outputs_and_gradients_with_recomputed_blocks():
    x = torch.randn(3, 8)
    plain_out, plain_grads = _grads(_net(), x)
    net = _net()
    keys = list(net.state_dict())
    assert apply_activation_checkpointing(net, ['Block']) == 2
    out, grads = _grads(net, x)
    torch.testing.assert_close(out, plain_out)
    assert grads.keys() == plain_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], plain_grads[name], msg=name)
    # forward ran again in backward: the recomputation happened
    assert net[0].calls == 2 and net[2].calls == 2
    assert list(net.state_dict()) == keys  # no wrapper prefix


def test_no_recomputation_without_gradients_and_copies_use_their_weights():
    net = _net()
    apply_activation_checkpointing(net, ['Block'])
    with torch.no_grad():
        net[0](torch.randn(2, 8))
    assert net[0].calls == 1
    twin = copy.deepcopy(net)  # what EMA hooks do
    with torch.no_grad():
        for p in twin.parameters():
            p.zero_()
    x = torch.randn(2, 8)
    assert torch.equal(twin[0](x), x)  # the copy's zero weights, not net's
    assert not torch.equal(net[0](x), x)


def test_unknown_module_type_is_refused_with_the_present_ones():
    with pytest.raises(ValueError, match=r"\['Blok'\].*'Block'"):
        apply_activation_checkpointing(_net(), ['Block', 'Blok'])


def test_train_tool_switch_checkpoints_the_named_modules(
        tmp_path, repo, smoke_config, run_cmd):
    proc = run_cmd([
        sys.executable, repo / 'tools' / 'train.py', smoke_config,
        '--work-dir', tmp_path / 'wd', '--activation-checkpointing', 'Linear',
        '--cfg-options', 'train_cfg.max_epochs=1'
    ])
    assert re.search(r"activation checkpointing: 1 modules of \['Linear'\]",
                     proc.stdout)
    assert (tmp_path / 'wd' / 'epoch_1.pth').exists()
    proc = run_cmd([
        sys.executable, repo / 'tools' / 'train.py', smoke_config,
        '--work-dir', tmp_path / 'wd2', '--activation-checkpointing', 'Conv2d'
    ],
                   check=False)
    assert proc.returncode != 0
    assert "no module of type ['Conv2d'] in ToyRegressor" in proc.stdout
