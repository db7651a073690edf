"""``vtg extract frames|features``: frames and feature stores with the
recipe of a named config (``tools/data/extract_frames.py``,
``tools/data/extract_feat.py``: progress bars, resumable, what is done is
skipped, a store of another recipe refused)."""
import sys
from typing import List, Optional

from ._tools import run_tool

SUMMARY = ('frames (frames ...) or feature stores (features ...) with the '
           'recipe of a config; resumable')
EXAMPLE = """
vtg extract frames work_dirs/r2_tuning_demo/videos --fps 0.5 --size 32
vtg extract features work_dirs/r2_tuning_demo/videos/demo_queries.jsonl \
work_dirs/r2_tuning_demo/frames_32_0.5fps \
--config work_dirs/r2_tuning_demo/demo_model.py --split test \
--checkpoint work_dirs/r2_tuning_demo/demo_clip.pt \
--video-store work_dirs/r2_tuning_demo/features/video \
--query-store work_dirs/r2_tuning_demo/features/query
"""
#: what ``vtg extract KIND`` runs
TOOLS = {
    'frames': 'data/extract_frames.py',
    'features': 'data/extract_feat.py',
}


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(argv or [])
    if not argv or argv[0] not in TOOLS:
        if argv and argv[0] not in ('-h', '--help'):
            print(f'error: unknown kind {argv[0]!r}', file=sys.stderr)
        print('usage: vtg extract {frames,features} ARGS ...\n\n'
              f'{SUMMARY}\n\n  frames    VIDEO_DIR -> FRAME_DIR/{{vid}}.npy '
              '(uint8 [T, 3, S, S])\n  features  ANN ... SRC -> video and '
              'query feature stores\n\nexample:\n' +
              '\n'.join(f'  {line}' for line in EXAMPLE.strip().splitlines()))
        return 0 if argv and argv[0] in ('-h', '--help') else 2
    kind = argv[0]
    example = '\n'.join(line for line in EXAMPLE.strip().splitlines()
                        if line.startswith(f'vtg extract {kind}'))
    return run_tool(TOOLS[kind], argv[1:], f'extract {kind}', SUMMARY, example)
