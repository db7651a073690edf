"""`make demo` (projects/r2_tuning/tools/demo.py), scaled down: the trained
model must score far above the untrained one on the same synthetic data."""
import importlib.util
import json
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[3] / 'projects' / 'r2_tuning' / \
    'tools' / 'demo.py'


def _load_demo():
    spec = importlib.util.spec_from_file_location('r2_tuning_demo', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_demo_learns_the_planted_moments(tmp_path, capsys):
    demo = _load_demo()
    summary = demo.main([
        '--work-dir', str(tmp_path), '--epochs', '6', '--train-videos', '160',
        '--val-videos', '16'
    ])
    before, after = summary['untrained'], summary['trained']
    assert after['MR-full-R1@0.5'] >= before['MR-full-R1@0.5'] + 25, summary
    assert after['MR-full-mAP'] >= before['MR-full-mAP'] + 15, summary
    out = capsys.readouterr().out
    assert 'hl_val_submission.jsonl' in out
    # the submission is in the official format, one record per val query
    lines = (tmp_path / 'hl_val_submission.jsonl').read_text().splitlines()
    assert len(lines) == 32
    rec = json.loads(lines[0])
    assert set(rec) == {'qid', 'query', 'vid', 'pred_relevant_windows',
                        'pred_saliency_scores'}
    assert all(len(w) == 3 for w in rec['pred_relevant_windows'])
    assert Path(summary['plot']).read_bytes()[:4] == b'\x89PNG'
