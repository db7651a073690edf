"""tools/benchmark/scale_out.py: the log parsing, throughput, medians,
ratios and table on made-up logs, and one real 1-round run (slow)."""
import importlib.util
import json
import re
import sys
import time
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / 'tools/benchmark/scale_out.py'


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('vtg_scale_out', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _line(epoch, i, total, seconds, mode='train'):
    return (f'12/03 12:20:{i:02d} - mmengine - INFO - Epoch({mode}) '
            f'[{epoch}][{i:>{len(str(total))}}/{total}]  lr: 1.0e-04  '
            f'eta: 0:00:01  time: {seconds:.6f}  data_time: 0.900000  '
            'grad_norm: 4.1  loss: 1.2')


def _log(times_by_epoch):
    """An MMEngine-like log: the iterations' times of each epoch, with
    other lines between."""
    lines = ['[WARNING] [real_accelerator.py:213] Setting accelerator to CPU']
    for epoch, times in enumerate(times_by_epoch, 1):
        lines += [
            _line(epoch, i, len(times), t) for i, t in enumerate(times, 1)
        ]
        lines.append('12/03 12:20:14 - mmengine - INFO - Exp name: x_2026')
    lines.append(_line(1, 1, 2, 5.0, mode='val'))
    return '\n'.join(lines)


def test_parse_iterations_reads_train_lines_only(tool):
    log = _log([[3.0, 0.5], [0.25, 0.75]])
    assert tool.parse_iterations(log) == [(1, 2, 3.0), (1, 2, 0.5),
                                          (2, 2, 0.25), (2, 2, 0.75)]


def test_padded_iteration_numbers(tool):
    log = _log([[0.1] * 12])
    assert len(tool.parse_iterations(log)) == 12
    assert '[ 1/12]' in log


def test_throughput_leaves_out_the_warmup_epochs(tool):
    its = tool.parse_iterations(_log([[9.0, 9.0], [0.5, 1.5], [1.0, 1.0]]))
    result = tool.run_throughput(its, warmup_epochs=1, global_batch=8)
    assert result['samples_per_s'] == pytest.approx(8 * 4 / 4.0)
    assert result['timed_iters'] == 4
    assert result['samples_per_epoch'] == 16
    assert result['s_per_iter_median'] == pytest.approx(1.0)


def test_throughput_refuses_incomplete_timing(tool):
    its = tool.parse_iterations(_log([[1.0, 1.0], [2.0, 2.0]]))
    with pytest.raises(ValueError, match='incomplete'):  # 1 of 2 logged
        tool.run_throughput(its[:3], warmup_epochs=1, global_batch=2)
    with pytest.raises(ValueError, match='incomplete'):  # nothing timed
        tool.run_throughput(its, warmup_epochs=2, global_batch=2)


def test_refusal_is_a_value_error_before_training(tool):
    refused = ('[rank0]: Traceback (most recent call last):\n'
               '[rank0]: ValueError: x.py: EMAHook cannot average weights\n'
               'torch.distributed.elastic...ChildFailedError:')
    assert tool.refusal(refused) == 'x.py: EMAHook cannot average weights'
    assert tool.refusal(_log([[1.0]]) + '\nValueError: later') is None
    assert tool.refusal('RuntimeError: gloo timed out') is None


def test_outcome_of_ok_refused_and_failed_runs(tool, tmp_path):
    (tmp_path / 'tiny.py').write_text('train_dataloader = dict(batch_size=3)')
    log = _log([[9.0], [0.5, 1.0]])
    ok = tool.outcome(0, log, tmp_path, 'configs/x/tiny.py', 2, 1)
    assert ok['status'] == 'ok' and ok['global_batch'] == 6
    assert ok['samples_per_s'] == pytest.approx(12 / 1.5)
    refused = tool.outcome(1, '[rank0]: ValueError: no EMA', tmp_path,
                           'tiny.py', 1, 1)
    assert (refused['status'], refused['reason']) == ('refused', 'no EMA')
    failed = tool.outcome(1, log + '\nRuntimeError: boom', tmp_path, 'tiny.py',
                          1, 1)
    assert (failed['status'], failed['reason']) == ('failed', 'exit status 1')
    assert failed['log_tail'].endswith('RuntimeError: boom')
    missing = tool.outcome(0, log, tmp_path / 'none', 'tiny.py', 1, 1)
    assert missing['status'] == 'failed'


def _runs(rates_1, rates_2, samples=(16, 16)):
    return [
        dict(procs=p, samples_per_s=rate, samples_per_epoch=samples[p - 1])
        for pair in zip(rates_1, rates_2) for p, rate in zip((1, 2), pair)
    ]


def test_summarize_medians_and_paired_ratio(tool):
    summary = tool.summarize(_runs([10.0, 12.0, 11.0], [15.0, 30.0, 11.0]))
    assert summary['samples_per_s'] == {1: 11.0, 2: 15.0}
    # rounds' ratios 1.5, 2.5, 1.0: median 1.5 (not 15 / 11)
    assert summary['speedup'] == pytest.approx(1.5)
    assert summary['efficiency'] == pytest.approx(0.75)
    assert 'note' not in summary
    uneven = tool.summarize(_runs([1.0], [2.0], samples=(16, 18)))
    assert 'different sample counts' in uneven['note']


def _row(method, engine, rate_2, status='ok'):
    if status != 'ok':
        return dict(method=method, engine=engine, status=status)
    return dict(
        method=method,
        engine=engine,
        status=status,
        samples_per_s={
            1: 10.0,
            2: rate_2
        },
        speedup=rate_2 / 10,
        efficiency=rate_2 / 20)


def test_vs_ddp_and_table(tool):
    rows = [
        _row('a', 'ddp', 16.0),
        _row('a', 'fsdp', 12.0),
        _row('a', 'deepspeed_zero3', 0, 'refused'),
        _row('b', 'fsdp', 18.0),
        _row('b', 'ddp', 0, 'failed'),
    ]
    tool.add_vs_ddp(rows)
    assert [row.get('vs_ddp') for row in rows] == [1.0, 0.75, None, None, None]
    lines = tool.table(rows).splitlines()
    assert lines[0].startswith('| method | engine | 1 proc samples/s |')
    assert lines[3] == ('| a | fsdp | 10.00 | 12.00 | 1.20x | 60% | '
                        '0.75x |')
    assert lines[4] == '| a | deepspeed_zero3' + ' | refused' * 5 + ' |'
    assert lines[5].endswith('| 90% | - |')
    assert '| failed |' in lines[6]


def test_engine_args(tool):
    cases = tool.load_cases()
    r2 = cases.CASES['r2_tuning']
    assert tool.engine_args(r2, 'ddp', cases.ENGINES) == ([], [])
    assert tool.engine_args(r2, 'deepspeed_zero3', cases.ENGINES) == ([
        '--strategy', 'deepspeed_zero3'
    ], ['model.chunk_tokens=0', 'strategy.fp16.enabled=False'])
    assert tool.engine_args(r2, 'deepspeed_zero3_bf16', cases.ENGINES) == ([
        '--strategy', 'deepspeed_zero3_bf16'
    ], ['model.chunk_tokens=0'])
    assert tool.engine_args(r2, 'fsdp',
                            cases.ENGINES) == (['--strategy', 'fsdp'], [])


@pytest.mark.parametrize('argv, message', [
    (['--engines', 'ddp', 'zero9'], 'unknown engines'),
    (['--epochs', '2', '--warmup-epochs', '2'], 'warmup-epochs'),
])
def test_bad_arguments(tool, argv, message, capsys):
    with pytest.raises(SystemExit):
        tool.parse_args(argv, tool.load_cases())
    assert message in capsys.readouterr().err


def test_launch_kills_the_whole_group_on_timeout(tool, tmp_path):
    start = time.perf_counter()
    # the child's child holds the output pipe: it must be killed too
    code, out = tool.launch(['bash', '-c', 'echo started; sleep 60 & wait'],
                            tmp_path,
                            None,
                            timeout=1)
    assert time.perf_counter() - start < 30
    assert code != 0 and out.startswith('started')
    assert out.endswith('killed after 1 s')


def test_ports_are_unique(tool):
    used = set()
    ports = [tool.free_port(used) for _ in range(5)]
    assert len(set(ports)) == 5 and used == set(ports)


@pytest.mark.slow
def test_one_round_of_r2_tuning_on_ddp(run_cmd, repo, tmp_path):
    out = tmp_path / 'results.json'
    argv = [
        TOOL, '--methods', 'r2_tuning', '--engines', 'ddp', '--rounds', '1',
        '--epochs', '2', '--warmup-epochs', '1', '--work-dir',
        tmp_path / 'work', '--out', out
    ]
    proc = run_cmd([sys.executable, *argv], cwd=repo, timeout=900)
    row = re.search(r'^\| r2_tuning \| ddp \| (.*) \|$', proc.stdout, re.M)
    assert row, proc.stdout[-3000:]
    rate_1, rate_2, speedup, _, vs_ddp = row.group(1).split(' | ')
    assert float(rate_1) > 0 and float(rate_2) > 0
    assert float(speedup.rstrip('x')) > 0 and vs_ddp == '1.00x'
    assert 'load average' in proc.stdout
    result, = json.loads(out.read_text())['results']
    assert result['status'] == 'ok'
    assert result['speedup'] > 0 and result['vs_ddp'] == 1.0
    assert all(rate > 0 for rate in result['samples_per_s'].values())
    assert [run['procs'] for run in result['runs']] == [1, 2]
    assert [run['global_batch'] for run in result['runs']] == [4, 8]
