"""One clipped SGD step of a small FSDP model on the processes torchrun
started: ``_fsdp_clip_worker.py WRAPPER_TYPE OUT`` (rank 0 saves the
updated full weights to OUT). The model, batch and step are the test's."""
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fsdp_clip_case import batch, model, step  # noqa: E402


def main(wrapper_type, out):
    dist.init_process_group('gloo')
    rank = dist.get_rank()
    sharded = FSDP(model(), device_id=torch.device('cpu'))
    x, y = batch()
    step(sharded, wrapper_type, x[rank * 4:(rank + 1) * 4],
         y[rank * 4:(rank + 1) * 4])
    with FSDP.summon_full_params(sharded):
        if rank == 0:
            torch.save(sharded.module.state_dict(), out)
    dist.destroy_process_group()


if __name__ == '__main__':
    main(*sys.argv[1:])
