"""Start ``vtg demo`` and open it in headless Chromium (Debian's
``chromium`` package driven by the ``playwright`` client; no browser is
downloaded)."""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from vtg_plugins.testing.refs import refs_required

#: Debian's package and where it puts the browser
CHROMIUM_PACKAGE = 'chromium'


def chromium_or_skip() -> str:
    """The Chromium executable; skips (fails under ``VTG_REQUIRE_REFS``,
    as in CI) when the package or the playwright client is missing."""
    path = shutil.which('chromium') or shutil.which('chromium-browser')
    missing = []
    if path is None:
        missing.append(f"Debian's {CHROMIUM_PACKAGE!r} package "
                       f'(apt-get install {CHROMIUM_PACKAGE})')
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the 'playwright' Python client (pip install "
                       'playwright)')
    if missing:
        msg = 'the browser test needs ' + ' and '.join(missing)
        if refs_required():
            pytest.fail(msg + '; VTG_REQUIRE_REFS requires it')
        pytest.skip(msg)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@contextmanager
def serving(args, cwd, timeout: float = 180):
    """Run ``vtg demo ARGS --port P`` until the page answers; yields the
    URL, stops the server after."""
    port = free_port()
    log = Path(cwd) / f'vtg_demo_{port}.log'
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED='False')
    env.setdefault('OMP_NUM_THREADS', '1')
    with open(log, 'w') as out:
        proc = subprocess.Popen([
            sys.executable, '-m', 'vtg_plugins.cli', 'demo', *map(str, args),
            '--port',
            str(port)
        ],
                                cwd=cwd,
                                env=env,
                                stdout=out,
                                stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}/'
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f'vtg demo exited {proc.returncode}:\n'
                            f'{log.read_text()[-4000:]}')
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                pytest.fail(f'vtg demo did not answer on {url} within '
                            f'{timeout} s:\n{log.read_text()[-4000:]}')
            time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
