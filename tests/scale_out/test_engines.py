"""Every method's tiny config on every engine, 2 CPU processes (gloo).

One torchrun job (``_driver.py``) trains each (method, engine) pair twice
through ``tools/train.py``'s steps: the whole run, and a run resumed from
its checkpoint one epoch before the end. Here, in one process:

* the run finished: its last checkpoint is of the last epoch;
* the resumed run ends with the uninterrupted run's weights and
  validation metrics: bit for bit on DDP, to 1e-5 on the sharded engines
  (their reductions may add in another order);
* the checkpoint (a DeepSpeed one converted to a plain file first) tested
  by ``tools/test.py`` in one process gives the 2-process validation
  metrics;
* what an engine cannot do is refused with the reason (GroundNLQ's EMA of
  parameters that FSDP / ZeRO-3 partition).

Engines: DDP, DeepSpeed ZeRO-2 and ZeRO-3 and FSDP from the
``configs/_base_/strategies`` overlays, in fp32 (DeepSpeed's CPU
accelerator has no fp16; the bf16 paths have their own tests).
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vtg_plugins.utils.strategy_checkpoints import strategy_to_plain

from .cases import CASES, ENGINES

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
REFUSED = {('groundnlq', 'zero3'): 'EMAHook', ('groundnlq', 'fsdp'): 'EMAHook'}
TOLERANCE = dict(rtol=1e-5, atol=1e-6)


@pytest.fixture(scope='module')
def matrix(tmp_path_factory):
    """Run the driver once over all pairs; returns (results, folder)."""
    import vtg_groundnlq  # noqa: F401  (the data writers' projects)
    import vtg_hd_vila  # noqa: F401
    import vtg_r2_tuning  # noqa: F401
    import vtg_tempclr  # noqa: F401
    import vtg_tstl  # noqa: F401
    folder = tmp_path_factory.mktemp('scale_out')
    for case in CASES.values():
        case.make_data(folder)
    spec = folder / 'spec.json'
    out = folder / 'results.json'
    spec.write_text(
        json.dumps(
            dict(
                folder=str(folder),
                cases=list(CASES),
                engines=list(ENGINES),
                out=str(out))))
    env = dict(os.environ, DS_ACCELERATOR='cpu', OMP_NUM_THREADS='1')
    env['PATH'] = str(Path(sys.executable).parent) + os.pathsep + env['PATH']
    proc = subprocess.run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
        '--master_port', '29821',
        str(HERE / '_driver.py'),
        str(spec)
    ],
                          env=env,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT,
                          text=True,
                          timeout=1500)
    results = json.loads(out.read_text()) if out.exists() else {}
    return results, folder, proc


def _result(matrix, case, engine):
    results, _, proc = matrix
    key = f'{case}/{engine}'
    if key not in results:
        pytest.fail(f'the driver stopped before {key} (exit '
                    f'{proc.returncode}):\n{proc.stdout[-4000:]}')
    result = results[key]
    if 'error' in result:
        pytest.fail(f'{key} failed:\n{result["error"]}')
    return result


def _plain(checkpoint: Path, folder: Path) -> Path:
    """A DeepSpeed checkpoint directory converted; plain files as they
    are."""
    if not checkpoint.is_dir():
        return checkpoint
    plain = folder / f'{checkpoint.parent.name}_{checkpoint.name}'
    strategy_to_plain(checkpoint, plain)
    return plain


def _test_tool():
    spec = importlib.util.spec_from_file_location('vtg_test_tool',
                                                  REPO / 'tools' / 'test.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _single_process_metrics(case, checkpoint, work_dir, capsys, folder,
                            monkeypatch) -> dict:
    monkeypatch.chdir(folder)  # the tiny configs' data paths are relative
    argv = [
        str(REPO / case.config),
        str(checkpoint), '--work-dir',
        str(work_dir)
    ]
    options = [o for o in case.options if not o.startswith('train_')]
    if options:
        argv += ['--cfg-options', *options]
    capsys.readouterr()
    _test_tool().main(argv)
    line, = [
        ln for ln in capsys.readouterr().out.splitlines()
        if ln.startswith('metrics: ')
    ]
    return json.loads(line[len('metrics: '):])


@pytest.mark.slow
@pytest.mark.parametrize('engine', list(ENGINES))
@pytest.mark.parametrize('name', list(CASES))
def test_finish_resume_and_single_process_metric(matrix, name, engine, capsys,
                                                 monkeypatch, tmp_path):
    case = CASES[name]
    result = _result(matrix, name, engine)
    if (name, engine) in REFUSED:
        assert REFUSED[name, engine] in result.get('refused', ''), result
        return
    assert 'refused' not in result, result['refused']
    folder = matrix[1]
    full_dir, resumed_dir = map(Path, result['work_dirs'])
    last = f'epoch_{case.epochs}.pth'
    full_ckpt = _plain(full_dir / last, tmp_path)
    full = torch.load(full_ckpt, map_location='cpu', weights_only=False)
    resumed = torch.load(
        _plain(resumed_dir / last, tmp_path),
        map_location='cpu',
        weights_only=False)
    # finished: the last epoch's checkpoint, of the last epoch
    assert full['meta']['epoch'] == resumed['meta']['epoch'] == case.epochs
    assert full['state_dict'].keys() == resumed['state_dict'].keys()
    for key, value in full['state_dict'].items():
        if engine == 'ddp':
            assert torch.equal(value, resumed['state_dict'][key]), key
        else:
            torch.testing.assert_close(
                resumed['state_dict'][key], value, **TOLERANCE, msg=key)
    metrics = {k: v for k, v in result['full'].items() if '/' in k}
    assert case.metric in metrics, sorted(metrics)
    again = {k: v for k, v in result['resumed'].items() if '/' in k}
    if engine == 'ddp':
        assert again == metrics
    else:
        assert again[case.metric] == pytest.approx(
            metrics[case.metric], abs=1e-4)
    single = _single_process_metrics(case, full_ckpt, tmp_path / 'test',
                                     capsys, folder, monkeypatch)
    assert single[case.metric] == pytest.approx(metrics[case.metric], abs=1e-4)
