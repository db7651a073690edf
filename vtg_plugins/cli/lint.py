"""``vtg lint``: check configs without running them
(``tools/analysis/check_config.py``)."""
from typing import List, Optional

from ._tools import run_tool

SUMMARY = ('check configs without running them: unknown keys and types, '
           'names that contradict values')
EXAMPLE = ('vtg lint configs/r2_tuning/'
           'r2_tuning_clip-b32_1xb128-30e_qvhighlights.py')


def main(argv: Optional[List[str]] = None) -> int:
    return run_tool('analysis/check_config.py', list(argv or []), 'lint',
                    SUMMARY, EXAMPLE)
