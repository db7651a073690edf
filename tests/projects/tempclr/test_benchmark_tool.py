"""projects/tempclr/tools/benchmark.py at tiny size, as a subprocess: the
report's structure (cold and warm timings), the agreement of ours and the
loop baselines, and the summary lines matching the JSON (never a timing)."""
import json
import statistics
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[3] / 'projects' / 'tempclr' / \
    'tools' / 'benchmark.py'
RECALLS = [f'{p}R{k}' for p in ('', 'DTW-', 'OTAM-') for k in (1, 5, 10)]


def _check_timing(entry, rounds):
    for side in ('loop', 'ours'):
        times = entry[side]['times_s']
        assert len(times) == rounds and all(t > 0 for t in times)
        assert entry[side]['median_s'] == pytest.approx(
            statistics.median(times), abs=1e-4)
    assert entry['speedup'] == pytest.approx(entry['loop']['median_s'] /
                                             entry['ours']['median_s'])


@pytest.mark.slow
def test_tiny_benchmark_report(run_cmd):
    proc = run_cmd([
        sys.executable, TOOL, '--size', 'tiny', '--rounds', '2', '--threads',
        '1', '--warm-calls', '2'
    ])
    lines = proc.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert (report['size'], report['rounds'], report['threads']) == ('tiny', 2,
                                                                     1)
    assert report['batch']['videos'] == 3 and report['batch']['clips'] == 8

    losses = report['alignment_loss']
    assert set(losses) == {'dtw', 'otam'}
    for metric, entry in losses.items():
        _check_timing(entry, 2)
        _check_timing(entry['warm'], 2)  # per call of 2 back-to-back calls
        assert entry['warm']['calls'] == 2
        diffs = entry['max_abs_diff_float64']
        assert set(diffs) == {'loss', 'grad_pooled_video', 'grad_pooled_text'}
        assert entry['agree'] and max(diffs.values()) <= 1e-10
        assert entry['loss_float64'] > 0
        assert entry['kept_videos'] == 2  # the last video is left out
        summary = [
            ln for ln in lines if ln.startswith(f'alignment loss '
                                                f'{metric}:')
        ]
        assert len(summary) == 1
        assert f"ours {entry['ours']['median_s']:.4f} s" in summary[0]
        assert (f"2 back-to-back calls: loop "
                f"{entry['warm']['loop']['median_s']:.4f} s") in summary[0]
    assert losses['dtw']['loss_float64'] != losses['otam']['loss_float64']

    retrieval = report['full_video_retrieval']
    assert retrieval['available'], retrieval.get('error')
    _check_timing(retrieval, 2)
    assert (retrieval['clips'], retrieval['videos']) == (120, 20)
    assert 3 <= retrieval['max_clips_per_video'] <= 14
    ours, loop = retrieval['metrics_ours'], retrieval['metrics_loop']
    assert list(ours) == RECALLS and set(loop) == set(RECALLS)
    assert retrieval['equal'] and ours == loop
    assert all(0 <= v <= 1 for v in ours.values())
    for prefix in ('', 'DTW-', 'OTAM-'):  # recall grows with k
        r1, r5, r10 = (ours[f'{prefix}R{k}'] for k in (1, 5, 10))
        assert r1 <= r5 <= r10
    assert any('metrics equal: True' in ln for ln in lines)
