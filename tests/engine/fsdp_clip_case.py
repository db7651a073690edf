"""The model, batch and clipped step shared by the FSDP clipping test and
its torchrun worker."""
import torch
from torch import nn

MAX_NORM = 0.05


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))


def batch():
    torch.manual_seed(1)
    return torch.randn(8, 6), torch.randn(8, 3)


def step(net, wrapper_type, x, y):
    """One SGD step (lr 1) of the mean squared error, clipped at
    ``MAX_NORM`` by the ``wrapper_type`` optimizer wrapper."""
    import vtg_plugins.engine  # noqa: F401  (registers the wrappers)
    from vtg_plugins.registry import OPTIM_WRAPPERS
    wrapper = OPTIM_WRAPPERS.build(
        dict(
            type=wrapper_type,
            clip_grad=dict(max_norm=MAX_NORM),
            optimizer=torch.optim.SGD(net.parameters(), lr=1.0)))
    with wrapper.optim_context(net):
        loss = nn.functional.mse_loss(net(x), y)
    wrapper.update_params(loss)
