"""The parts of a config the MMEngine ``Runner`` reads, checked as it reads
them (a mixin of the config lint's walker: ``component``, ``keys``,
``problem``, ``each``, ``children`` and ``resolve`` come from there)."""
from typing import Callable, Dict, Optional

from .config_keys import named_parameters
from .config_report import join_path, key_needle

DATALOADER_KEYS = {'num_batch_per_epoch', 'disable_subprocess_warning'}
PARAMWISE_KEYS = {
    'custom_keys', 'bias_lr_mult', 'bias_decay_mult', 'norm_decay_mult',
    'dwconv_decay_mult', 'flat_decay_mult', 'bypass_duplicate',
    'dcn_offset_lr_mult'
}



def paramwise_keys(ctor: type) -> Optional[frozenset]:
    """The ``paramwise_cfg`` keys constructor ``ctor`` reads: its
    ``paramwise_keys`` attribute when it declares one, MMEngine's own keys
    when it keeps the default reading, else ``None`` (unknown: a constructor
    that overrides ``__call__`` or ``add_params`` reads them itself)."""
    from mmengine.optim import DefaultOptimWrapperConstructor as Default
    declared = getattr(ctor, 'paramwise_keys', None)
    if declared is not None:
        return frozenset(declared)
    if ctor.__call__ is Default.__call__ and \
            ctor.add_params is Default.add_params:
        return PARAMWISE_KEYS
    return None

class RunnerSlots:
    """One method per top-level key of the Runner (``train_cfg``,
    ``optim_wrapper``, ...) taking ``(value, path)``."""

    def slots(self) -> Dict[str, Callable]:
        return {
            'model':
            lambda n, p: self.component(n, p, 'MODELS'),
            'data_preprocessor':
            lambda n, p: self.component(n, p, 'MODELS'),
            'train_dataloader':
            self.dataloader,
            'val_dataloader':
            self.dataloader,
            'test_dataloader':
            self.dataloader,
            'train_cfg':
            self.train_loop,
            'val_cfg':
            lambda n, p: self.component(n, p, 'LOOPS', default_type='ValLoop'),
            'test_cfg':
            lambda n, p: self.component(
                n, p, 'LOOPS', default_type='TestLoop'),
            'val_evaluator':
            self.evaluator,
            'test_evaluator':
            self.evaluator,
            'optim_wrapper':
            self.optim_wrapper,
            'param_scheduler':
            self.param_scheduler,
            'default_hooks':
            self.default_hooks,
            'custom_hooks':
            lambda n, p: self.each(n, p, 'HOOKS'),
            'env_cfg':
            self.env_cfg,
            'log_processor':
            lambda n, p: self.component(
                n, p, 'LOG_PROCESSORS', default_type='LogProcessor'),
            'visualizer':
            lambda n, p: self.component(n, p, 'VISUALIZERS'),
            'model_wrapper_cfg':
            lambda n, p: self.component(
                n,
                p,
                'MODEL_WRAPPERS',
                default_type='MMDistributedDataParallel'),
            'strategy':
            lambda n, p: self.component(n, p, 'STRATEGIES'),
            'randomness':
            self.randomness,
            'auto_scale_lr':
            lambda n, p: self.keys(n, p, {'enable', 'base_batch_size'},
                                   'auto_scale_lr'),
            'custom_imports':
            lambda n, p: self.keys(n, p, {'imports', 'allow_failed_imports'},
                                   'custom_imports'),
            'compile':
            self.compile,
        }

    def dataloader(self, node, path: str) -> None:
        if not isinstance(node, dict):
            return
        from torch.utils.data import DataLoader
        valid = named_parameters(DataLoader.__init__, ('self', )) | \
            DATALOADER_KEYS
        self.keys(node, path, valid, 'the dataloader (torch DataLoader)')
        self.children(node, path, None)

    def train_loop(self, node, path: str) -> None:
        if not isinstance(node, dict):
            return
        if 'type' in node:
            if 'by_epoch' in node:
                self.problem(
                    join_path(path, 'by_epoch'), 'give `type` or `by_epoch`, '
                    'not both (the Runner refuses)', key_needle('by_epoch'))
            self.component(node, path, 'LOOPS')
        elif 'by_epoch' not in node:
            self.problem(
                path, 'needs a `type` (e.g. EpochBasedTrainLoop) '
                'or `by_epoch`')
        else:
            loop = 'EpochBasedTrainLoop' if node['by_epoch'] else \
                'IterBasedTrainLoop'
            self.component(
                node, path, 'LOOPS', default_type=loop, extra={'by_epoch'})

    def evaluator(self, node, path: str) -> None:
        if isinstance(node, dict) and 'metrics' in node:
            self.component(node, path, 'EVALUATOR', default_type='Evaluator')
        else:
            self.each(node, path, 'METRICS')

    def optim_wrapper(self, node, path: str) -> None:
        if not isinstance(node, dict):
            return
        if 'optimizer' not in node and 'constructor' not in node:
            self.problem(
                path, 'needs an `optimizer` (or a `constructor` '
                'that builds several)')
            return
        ctor_type = node.get('constructor', 'DefaultOptimWrapperConstructor')
        where = join_path(path, 'constructor')
        ctor = self.resolve('OPTIM_WRAPPER_CONSTRUCTORS', ctor_type, where)
        from mmengine.optim import (DefaultOptimWrapperConstructor,
                                    OptimWrapper)
        if ctor is None or not (isinstance(ctor, type) and issubclass(
                ctor, DefaultOptimWrapperConstructor)):
            self.children(node, path, 'OPTIM_WRAPPERS')  # its own reading
            return
        self.component(
            node,
            path,
            'OPTIM_WRAPPERS',
            default_type='OptimWrapper',
            extra={'constructor', 'paramwise_cfg'})
        paramwise = node.get('paramwise_cfg')
        accepted = paramwise_keys(ctor)
        if accepted is not None:
            self.keys(paramwise, join_path(path, 'paramwise_cfg'), accepted,
                      'paramwise_cfg')
        if isinstance(paramwise, dict) and \
                isinstance(paramwise.get('custom_keys'), dict):
            for name, mults in paramwise['custom_keys'].items():
                self.keys(mults,
                          join_path(path, f'paramwise_cfg.custom_keys.{name}'),
                          {'lr_mult', 'decay_mult'}, 'custom_keys entries')
        wrapper, _ = self.lookup.resolve('OPTIM_WRAPPERS',
                                         node.get('type', 'OptimWrapper'))
        if isinstance(wrapper, type) and issubclass(wrapper, OptimWrapper):
            self.clip_grad(node.get('clip_grad'), join_path(path, 'clip_grad'))

    def clip_grad(self, node, path: str) -> None:
        if not isinstance(node, dict):
            return
        import torch.nn.utils as nn_utils
        kind = node.get('type', 'norm')
        funcs = dict(
            norm=nn_utils.clip_grad_norm_, value=nn_utils.clip_grad_value_)
        if kind not in funcs:
            self.problem(
                join_path(path, 'type'), f"clip_grad type must be "
                f"'norm' or 'value', got {kind!r}")
            return
        func = funcs[kind]
        self.keys(node, path,
                  named_parameters(func, ('parameters', )) | {'type'},
                  f'clip_grad ({func.__name__})')

    def param_scheduler(self, node, path: str) -> None:
        if isinstance(node, dict) and 'type' not in node:
            for name, schedulers in node.items():  # one list per optimizer
                self.param_scheduler(schedulers, join_path(path, name))
        else:
            self.each(node, path, 'PARAM_SCHEDULERS')

    def default_hooks(self, node, path: str) -> None:
        if not isinstance(node, dict):
            return
        for name, hook in node.items():
            if isinstance(hook, dict) and 'type' not in hook:
                self.problem(
                    join_path(path, name),
                    'has no `type`: the Runner replaces '
                    'its default hook of that name with this dict, which '
                    'needs `type` (e.g. CheckpointHook)')
            else:
                self.component(hook, join_path(path, name), 'HOOKS')

    def env_cfg(self, node, path: str) -> None:
        if not isinstance(node, dict):
            return
        from mmengine import dist
        from mmengine.utils.dl_utils import set_multi_processing
        self.keys(node, path,
                  {'cudnn_benchmark', 'mp_cfg', 'dist_cfg', 'resource_limit'},
                  'env_cfg')
        self.keys(
            node.get('mp_cfg'), join_path(path, 'mp_cfg'),
            named_parameters(set_multi_processing, ('distributed', )),
            'env_cfg.mp_cfg (set_multi_processing)')
        import torch.distributed as torch_dist
        dist_keys = named_parameters(dist.init_dist, ('launcher', )) | \
            named_parameters(torch_dist.init_process_group) | {'port'}
        self.keys(
            node.get('dist_cfg'), join_path(path, 'dist_cfg'), dist_keys,
            'env_cfg.dist_cfg (init_dist)')

    def randomness(self, node, path: str) -> None:
        from mmengine.runner import Runner
        self.keys(node, path,
                  named_parameters(Runner.set_randomness, ('self', )),
                  'randomness')

    def compile(self, node, path: str) -> None:
        import torch
        self.keys(node, path, named_parameters(torch.compile, ('model', )),
                  'compile (torch.compile)')
