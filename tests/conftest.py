"""Shared fixtures: run the repository's tools in subprocesses."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# CI lays the official-output fixtures out beside the clone; VTG_REFS wins.
_CI_REFS = REPO.parent / 'shared' / 'refs'
if 'VTG_REFS' not in os.environ and _CI_REFS.is_dir():
    os.environ['VTG_REFS'] = str(_CI_REFS)
SMOKE_CONFIG = REPO / 'configs' / 'smoke' / 'smoke_linear_1xb4-4e_synthetic.py'


def _env(extra=None):
    env = dict(os.environ)
    env.setdefault('OMP_NUM_THREADS', '1')
    env['PYTHON'] = sys.executable
    # The venv's bin first, so `mim`, `torchrun` resolve to this install.
    env['PATH'] = str(Path(sys.executable).parent) + os.pathsep + env['PATH']
    env.update(extra or {})
    return env


@pytest.fixture
def run_cmd():
    """Run a command; on failure show its output. Returns the process."""

    def run(cmd, cwd=None, env=None, check=True, timeout=600):
        proc = subprocess.run(
            [str(c) for c in cmd],
            cwd=cwd,
            env=_env(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout)
        if check and proc.returncode != 0:
            pytest.fail(f'{cmd} exited {proc.returncode}:\n'
                        f'{proc.stdout[-6000:]}')
        return proc

    return run


@pytest.fixture
def repo():
    return REPO


@pytest.fixture
def smoke_config():
    return SMOKE_CONFIG


def _read_metrics(output: str) -> dict:
    lines = [ln for ln in output.splitlines() if ln.startswith('metrics: ')]
    assert lines, f'no metrics line in the output:\n{output[-3000:]}'
    return json.loads(lines[-1][len('metrics: '):])


@pytest.fixture
def read_metrics():
    """Parse the ``metrics: {json}`` line that tools/test.py prints."""
    return _read_metrics
