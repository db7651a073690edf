"""The AdamW of HD-VILA's fine-tuning and pre-training
(``src/optimization/adamw.py``, the old Hugging Face ``AdamW``).

It is not ``torch.optim.AdamW``: for step ``t`` with moments ``m``, ``v``
(updated as usual) it moves a parameter ``p`` by

    p <- p - lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
    p <- p - lr * wd * p          (decoupled decay, on the *updated* p)

so ``eps`` is added to the *uncorrected* ``sqrt(v)`` (torch adds it to
``sqrt(v / (1 - b2^t))``), the decay acts after the Adam step (torch shrinks
``p`` first) and the default ``eps`` is ``1e-6`` (the official code never
sets it). With ``correct_bias=False`` the step size is ``lr``.
"""
import math
from typing import Callable, Iterable, Optional, Tuple

import torch
from torch.optim import Optimizer

from vtg_plugins.registry import OPTIMIZERS


@OPTIMIZERS.register_module()
class HDVILAAdamW(Optimizer):
    """Adam with the decoupled weight decay of the module doc.

    Args:
        params: parameters or parameter groups.
        lr (float): learning rate (>= 0).
        betas (tuple[float, float]): moment coefficients in ``[0, 1)``
            (official configs: ``(0.9, 0.98)``).
        eps (float): added to ``sqrt(v)`` (>= 0; official ``1e-6``).
        weight_decay (float): decoupled decay (groups may override it).
        correct_bias (bool): Adam's bias correction in the step size.
    """

    def __init__(self,
                 params: Iterable,
                 lr: float = 1e-3,
                 betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6,
                 weight_decay: float = 0.0,
                 correct_bias: bool = True) -> None:
        if lr < 0.0:
            raise ValueError(f'HDVILAAdamW: lr must be >= 0, got {lr}')
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f'HDVILAAdamW: betas[{i}] must be in '
                                 f'[0, 1), got {beta}')
        if eps < 0.0:
            raise ValueError(f'HDVILAAdamW: eps must be >= 0, got {eps}')
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=tuple(betas),
                eps=eps,
                weight_decay=weight_decay,
                correct_bias=correct_bias))

    @torch.no_grad()
    def step(self, closure: Optional[Callable] = None):
        """One update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group['betas']
            for param in group['params']:
                if param.grad is None:
                    continue
                grad = param.grad
                if grad.is_sparse:
                    raise RuntimeError('HDVILAAdamW does not support sparse '
                                       'gradients')
                state = self.state[param]
                if not state:
                    state['step'] = 0
                    state['exp_avg'] = torch.zeros_like(param)
                    state['exp_avg_sq'] = torch.zeros_like(param)
                state['step'] += 1
                step = state['step']
                exp_avg, exp_avg_sq = state['exp_avg'], state['exp_avg_sq']
                exp_avg.mul_(beta1).add_(grad, alpha=1.0 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
                denom = exp_avg_sq.sqrt().add_(group['eps'])
                step_size = group['lr']
                if group['correct_bias']:
                    step_size *= math.sqrt(1.0 - beta2**step) / (1.0 -
                                                                 beta1**step)
                param.addcdiv_(exp_avg, denom, value=-step_size)
                if group['weight_decay'] > 0.0:
                    param.add_(
                        param, alpha=-group['lr'] * group['weight_decay'])
        return loss
