"""Call a wrapped model's methods outside its engine's forward pass.

Hooks and tools that encode with the model directly (``model.module.
encode_video(...)``, as a batching hook or an evaluator does) bypass the
engine's forward: under FSDP the weights are then still sharded (each rank
holds a 1-D slice of every flattened parameter). ``whole_weights(model)``
gathers them for the duration of the block on every engine that shards:

    with whole_weights(runner.model) as module:
        features = module.encode_video(frames)

DDP and DeepSpeed ZeRO-1/2 hold whole weights already; ZeRO-3 gathers each
submodule's weights in its own forward hooks; FSDP needs
``summon_full_params`` (without write-back: the block must not train).
"""
from contextlib import contextmanager

import torch
from mmengine.model import is_model_wrapper


@contextmanager
def whole_weights(model: torch.nn.Module):
    """Yield the bare module of ``model`` with every weight whole."""
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    module = model.module if is_model_wrapper(model) else model
    if isinstance(model, FSDP):
        with FSDP.summon_full_params(model, writeback=False):
            yield module
    else:
        yield module
