"""A tiny regression task for checking an install and the Runner glue.

``configs/smoke/smoke_linear_1xb4-4e_synthetic.py`` trains it in seconds on
CPU with nothing downloaded, so ``mim train vtg_plugins`` /
``tools/dist_train.sh`` / ``--resume`` can be checked on any machine. Not a
method: the models of the five methods live in ``projects/``.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.dataset import BaseDataset
from mmengine.dist import get_rank
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel

from vtg_plugins.registry import DATASETS, HOOKS, METRICS, MODELS


@DATASETS.register_module()
class ToyRegressionDataset(BaseDataset):
    """``num_samples`` pairs (x [dim], y = x · w + 0.1 noise), fixed by
    ``seed``; each sample also carries its ``index``.

    Args:
        num_samples (int): dataset length.
        dim (int): input size.
        seed (int): generator seed (same data on every rank).
    """

    def __init__(self,
                 num_samples: int = 32,
                 dim: int = 8,
                 seed: int = 0,
                 **kwargs):
        self.num_samples = num_samples
        self.dim = dim
        self.seed = seed
        kwargs.setdefault('serialize_data', False)
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        rng = np.random.default_rng(self.seed)
        weight = rng.standard_normal(self.dim).astype(np.float32)
        x = rng.standard_normal((self.num_samples, self.dim)).astype(
            np.float32)
        y = x @ weight + 0.1 * rng.standard_normal(self.num_samples).astype(
            np.float32)
        return [
            dict(inputs=torch.from_numpy(x[i]), target=float(y[i]), index=i)
            for i in range(self.num_samples)
        ]

    def prepare_data(self, idx: int) -> dict:
        info = self.get_data_info(idx)
        return {k: info[k] for k in ('inputs', 'target', 'index')}


@MODELS.register_module()
class ToyRegressor(BaseModel):
    """Linear regressor ``y = x · w + b``.

    Inputs: ``inputs`` [B, dim]; ``target`` [B]; ``index`` [B].
    """

    def __init__(self, dim: int = 8, **kwargs):
        super().__init__(**kwargs)
        self.linear = torch.nn.Linear(dim, 1)

    def forward(self,
                inputs: torch.Tensor,
                target: Optional[torch.Tensor] = None,
                index: Optional[torch.Tensor] = None,
                mode: str = 'tensor'):
        pred = self.linear(inputs).squeeze(-1)
        if mode == 'tensor':
            return pred
        if mode == 'loss':
            return dict(loss=((pred.float() - target.float())**2).mean())
        if mode == 'predict':
            return [
                dict(index=int(i), pred=float(p), target=float(t))
                for i, p, t in zip(index, pred.float(), target)
            ]
        raise ValueError(f'unknown mode {mode!r}')


@METRICS.register_module()
class ToyRegressionMetric(BaseMetric):
    """Mean squared error, the number of distinct samples seen and the number
    of results received (equal unless a sample was scored twice)."""

    default_prefix = 'toy'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        self.results.extend(data_samples)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        errors = [(r['pred'] - r['target'])**2 for r in results]
        return dict(
            mse=float(np.mean(errors)),
            num_samples=float(len({r['index'] for r in results})),
            num_results=float(len(results)))


@HOOKS.register_module()
class SaveRankWeightsHook(Hook):
    """After training, every rank saves its model's weights to
    ``work_dir/weights_rank{r}.pth`` (to compare ranks after DDP)."""

    def after_run(self, runner) -> None:
        model = runner.model
        model = getattr(model, 'module', model)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save(state,
                   osp.join(runner.work_dir, f'weights_rank{get_rank()}.pth'))


@HOOKS.register_module()
class InterruptAfterEpochHook(Hook):
    """Simulate a killed job: raise once ``epoch`` training epochs are done
    (after the checkpoint of that epoch was written)."""

    priority = 'LOWEST'

    def __init__(self, epoch: int):
        self.epoch = epoch

    def after_train_epoch(self, runner) -> None:
        if runner.epoch + 1 >= self.epoch:
            raise KeyboardInterrupt(f'interrupted after epoch {self.epoch}')
