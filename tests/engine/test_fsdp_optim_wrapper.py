"""FSDPOptimWrapper clips by the norm over all shards: on 2 CPU processes
(gloo) one clipped SGD step of an FSDP model equals the step of the whole
model on the whole batch, while MMEngine's OptimWrapper (each shard by its
own norm) does not."""
import sys
from pathlib import Path

import pytest
import torch

from .fsdp_clip_case import batch, model, step

WORKER = Path(__file__).resolve().parent / '_fsdp_clip_worker.py'


def _sharded_step(run_cmd, wrapper_type, path, port):
    run_cmd([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
        '--master_port', port, WORKER, wrapper_type, path
    ])
    return torch.load(path)


@pytest.mark.slow
def test_global_norm_clipping_matches_the_unsharded_step(tmp_path, run_cmd):
    reference = model()
    step(reference, 'OptimWrapper', *batch())
    want = reference.state_dict()
    got = _sharded_step(run_cmd, 'FSDPOptimWrapper', tmp_path / 'fsdp.pth',
                        '29831')
    for key in want:
        torch.testing.assert_close(got[key], want[key], msg=key)
    local = _sharded_step(run_cmd, 'OptimWrapper', tmp_path / 'local.pth',
                          '29832')
    assert any(not torch.allclose(local[k], want[k], atol=1e-4) for k in want)
