"""Model-state memory per GPU of a training config, engine by engine.

The arithmetic of ZeRO (Rajbhandari et al., "ZeRO: Memory Optimizations
Toward Training Trillion Parameter Models", SC 2020, Sec. 3.1 and 5): a
trainable parameter costs its weight, its gradient and the optimizer's
states; data parallelism keeps all three on every GPU, ZeRO stage 1 divides
the optimizer states by the number of GPUs ``N``, stage 2 the gradients too,
stage 3 (and FSDP's full sharding) the weights as well. With mixed precision
and Adam this is ``2 + 2 + K`` bytes per parameter, ``K = 12`` (an fp32
master weight and two fp32 moments). A frozen parameter is a weight only.

These are *model states only*: activations depend on batch and clip size
and are not counted, nor are communication buckets, the CUDA context or
allocator fragmentation.

The model is built through the registry the Runner uses, on the ``meta``
device when it allows (no memory, no weight loading: ``init_weights`` is
never called, so configs naming pretrained files need not have them), else
on the CPU with random weights.
"""
import copy
import os.path as osp
from dataclasses import asdict, dataclass
from typing import Dict, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, OPTIMIZERS, DefaultScope
from torch import nn

#: bytes of a GiB
GIB = 1024**3
#: bytes of an fp32 optimizer state or master weight
FP32 = 4
#: bytes of an fp16 / bf16 weight or gradient
HALF = 2
#: what the numbers leave out, printed with them
NOT_COUNTED = ('model states only (parameters + gradients + optimizer '
               'states); activations depend on batch and clip size and are '
               'not included')


@dataclass(frozen=True)
class ParamCounts:
    """Elements of a model's parameters (shared ones once) and buffers."""
    trainable: int
    frozen: int
    buffers: int

    @property
    def total(self) -> int:
        return self.trainable + self.frozen


@dataclass(frozen=True)
class Engine:
    """How a training engine stores model states.

    Args:
        name (str): column name.
        weight_bytes (int): bytes per parameter of the weights the forward
            reads (also what a frozen parameter costs).
        grad_bytes (int): bytes per trainable parameter of its gradient.
        master_bytes (int): bytes per trainable parameter of a separate
            fp32 master copy held by the optimizer (0 when the weights are
            fp32 themselves).
        shard_weights, shard_grads, shard_optimizer (bool): whether the
            weights, gradients, optimizer states (with the master copy) are
            divided over the GPUs.
        note (str): one line on what the engine is.
    """
    name: str
    weight_bytes: int
    grad_bytes: int
    master_bytes: int
    shard_weights: bool
    shard_grads: bool
    shard_optimizer: bool
    note: str


ENGINES: Tuple[Engine, ...] = (
    Engine('DDP fp32', FP32, FP32, 0, False, False, False,
           'fp32 weights, gradients and states on every GPU'),
    Engine('DDP AMP', FP32, FP32, 0, False, False, False,
           'autocast keeps fp32 weights: the states of DDP fp32'),
    Engine('ZeRO-1', HALF, HALF, FP32, False, False, True,
           '16-bit weights and gradients; fp32 master + states / N'),
    Engine('ZeRO-2', HALF, HALF, FP32, False, True, True,
           '16-bit weights; gradients, fp32 master + states / N'),
    Engine('ZeRO-3', HALF, HALF, FP32, True, True, True,
           'everything / N (16-bit weights and gradients)'),
    Engine(
        'FSDP', FP32, FP32, 0, True, True, True,
        'full shard: fp32 sharded weights (the master copy), fp32 '
        'sharded gradients and states / N'),
)


@dataclass(frozen=True)
class EngineBytes:
    """Bytes per GPU of one engine's model states."""
    weights: float
    grads: float
    optimizer: float

    @property
    def total(self) -> float:
        return self.weights + self.grads + self.optimizer


@dataclass
class MemoryReport:
    """What :func:`analyze_config` finds for one config."""
    config: str
    counts: ParamCounts
    optimizer: str
    optimizer_states: int
    gpus: int
    engines: Dict[str, EngineBytes]
    config_engine: Optional[str]
    built_on: str

    def to_dict(self) -> dict:
        """Plain data (bytes and GiB per engine) for JSON."""
        engines = {
            name: dict(asdict(b), total=b.total, total_gib=b.total / GIB)
            for name, b in self.engines.items()
        }
        return dict(
            config=self.config,
            params=dict(asdict(self.counts), total=self.counts.total),
            optimizer=self.optimizer,
            optimizer_states=self.optimizer_states,
            gpus=self.gpus,
            config_engine=self.config_engine,
            built_on=self.built_on,
            engines=engines,
            not_counted=NOT_COUNTED)


def count_parameters(model: nn.Module) -> ParamCounts:
    """Trainable (``requires_grad``) and frozen parameter elements and
    buffer elements of ``model``; a shared tensor counts once."""
    trainable = frozen = 0
    for param in model.parameters():
        if param.requires_grad:
            trainable += param.numel()
        else:
            frozen += param.numel()
    buffers = sum(b.numel() for b in model.buffers())
    return ParamCounts(trainable, frozen, buffers)


def engine_bytes(engine: Engine, counts: ParamCounts, states: int,
                 gpus: int) -> EngineBytes:
    """Bytes per GPU of ``engine`` for ``counts`` parameters, an optimizer
    with ``states`` fp32 tensors per parameter, on ``gpus`` GPUs."""

    def per_gpu(nbytes: float, sharded: bool) -> float:
        return nbytes / gpus if sharded else nbytes

    weights = engine.weight_bytes * counts.total
    grads = engine.grad_bytes * counts.trainable
    optimizer = (engine.master_bytes + FP32 * states) * counts.trainable
    return EngineBytes(
        weights=per_gpu(weights, engine.shard_weights),
        grads=per_gpu(grads, engine.shard_grads),
        optimizer=per_gpu(optimizer, engine.shard_optimizer))


def model_state_bytes(counts: ParamCounts, states: int,
                      gpus: int) -> Dict[str, EngineBytes]:
    """:func:`engine_bytes` of every engine of :data:`ENGINES`, by name."""
    if gpus < 1:
        raise ValueError(f'the number of GPUs must be >= 1, got {gpus}')
    return {e.name: engine_bytes(e, counts, states, gpus) for e in ENGINES}


def optimizer_states(optimizer_cfg: dict) -> int:
    """Tensors the configured optimizer keeps per parameter (Adam/AdamW: 2,
    SGD with momentum: 1, without: 0), counted after one step on a dummy
    parameter. Call it under the config's default scope."""
    param = nn.Parameter(torch.zeros(2, 3))
    optimizer = OPTIMIZERS.build(dict(optimizer_cfg, params=[param]))
    param.grad = torch.ones_like(param)
    optimizer.step()
    return sum(
        torch.is_tensor(v) and v.shape == param.shape
        for v in optimizer.state[param].values())


def config_engine(cfg: Config) -> Optional[str]:
    """The :data:`ENGINES` name the config itself trains with, if any."""
    strategy = cfg.get('strategy') or {}
    kind = strategy.get('type', '')
    if 'DeepSpeed' in kind:
        stage = strategy.get('zero_optimization', {}).get('stage', 0)
        return f'ZeRO-{stage}' if stage else None
    if 'FSDP' in kind:
        return 'FSDP'
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper in ('AmpOptimWrapper', 'BF16OptimWrapper'):
        return 'DDP AMP'
    return 'DDP fp32' if wrapper == 'OptimWrapper' else None


def load_training_config(path: str) -> Config:
    """Read a config that has a ``model`` and an ``optim_wrapper.optimizer``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: naming the file, when one of the two is missing.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: config file does not exist')
    cfg = Config.fromfile(path)
    if not isinstance(cfg.get('model'), dict):
        raise ValueError(f'{path}: the config has no `model` dict to build')
    optim_wrapper = cfg.get('optim_wrapper') or {}
    if not isinstance(optim_wrapper.get('optimizer'), dict):
        raise ValueError(f'{path}: the config has no optim_wrapper.optimizer '
                         '(a training config is needed to count optimizer '
                         'states)')
    return cfg


def build_model(model_cfg: dict) -> Tuple[nn.Module, str]:
    """Build ``model_cfg`` on the ``meta`` device, else on the CPU (call it
    under the config's default scope). Returns the model (in train mode, as
    the Runner trains it: some models freeze parts in ``train()``) and where
    it was built, with the reason when not on ``meta``."""
    try:
        with torch.device('meta'):
            model = MODELS.build(copy.deepcopy(model_cfg))
        built_on = 'meta'
    except Exception as err:  # noqa: BLE001  (any failure: try the CPU)
        model = MODELS.build(copy.deepcopy(model_cfg))
        reason = str(err).splitlines()[0] if str(err) else ''
        built_on = f'cpu (meta failed: {type(err).__name__}: {reason})'
    return model.train(), built_on


def analyze_config(path: str, gpus: int = 8) -> MemoryReport:
    """Build the model of the config at ``path`` and compute the bytes per
    GPU of every engine for ``gpus`` GPUs.

    Raises:
        FileNotFoundError, ValueError, RuntimeError: naming ``path``.
    """
    cfg = load_training_config(path)
    optimizer_cfg = cfg.optim_wrapper.optimizer
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        try:
            model, built_on = build_model(cfg.model)
            states = optimizer_states(optimizer_cfg)
        except Exception as err:
            raise RuntimeError(f'{path}: cannot build the model or the '
                               f'optimizer: {type(err).__name__}: {err}') \
                from err
    counts = count_parameters(model)
    kind = optimizer_cfg['type']
    return MemoryReport(
        config=path,
        counts=counts,
        optimizer=getattr(kind, '__name__', kind),
        optimizer_states=states,
        gpus=gpus,
        engines=model_state_bytes(counts, states, gpus),
        config_engine=config_engine(cfg),
        built_on=built_on)
