"""Sliding windows over a long video, and the merge of one query's outputs
on them through the model's own post-processing (its
``merge_candidates``, see :mod:`vtg_plugins.apis.grounding_model`)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

Span = Tuple[int, int]
Outputs = Sequence[Dict[str, Tensor]]


def sliding_windows(num_clips: int, max_clips: Optional[int],
                    overlap: float) -> List[Span]:
    """``[start, end)`` clip spans covering ``num_clips`` clips.

    One span when ``max_clips`` is None or not exceeded; otherwise spans of
    exactly ``max_clips`` clips every ``round(max_clips * (1 - overlap))``
    clips, the last one ending at ``num_clips``.
    """
    if max_clips is None or num_clips <= max_clips:
        return [(0, num_clips)]
    if not 0 <= overlap < 1:
        raise ValueError(f'window overlap must lie in [0, 1), got {overlap}')
    stride = max(1, round(max_clips * (1 - overlap)))
    starts = list(range(0, num_clips - max_clips, stride))
    return [(s, s + max_clips) for s in starts + [num_clips - max_clips]]


def gather_candidates(outputs: Outputs, spans: Sequence[Span],
                      clip_len: float) -> Dict[str, Tensor]:
    """One video's candidates from the ``predict_candidates`` outputs of
    its windows: ``windows`` ``[N, 3]`` shifted by each window's start
    (``start * clip_len`` seconds), every other per-candidate field
    concatenated in window order (``saliency`` is left out)."""
    keys = [k for k in outputs[0] if k != 'saliency']
    out = {}
    for key in keys:
        parts = [o[key].detach().cpu() for o in outputs]
        if key == 'windows':
            parts = [
                rows + rows.new_tensor([start * clip_len] * 2 + [0.])
                for rows, (start, _) in zip(parts, spans)
            ]
        out[key] = torch.cat(parts)
    return out


def average_saliency(outputs: Outputs, spans: Sequence[Span]) -> List[float]:
    """Per-clip saliency of the whole video: the mean over the windows
    covering each clip."""
    num_clips = spans[-1][1]
    total = torch.zeros(num_clips, dtype=torch.float64)
    count = torch.zeros(num_clips, dtype=torch.float64)
    for out, (start, end) in zip(outputs, spans):
        total[start:end] += out['saliency'].detach().cpu().double()
        count[start:end] += 1
    return (total / count).float().tolist()


def merge_window_outputs(model, outputs: Outputs, spans: Sequence[Span],
                         clip_len: float, duration: float) -> dict:
    """Merge one query's ``predict_candidates`` outputs on sliding windows.

    Args:
        model: implements ``merge_candidates`` (when the outputs hold
            ``windows``).
        outputs: per window, the model's candidates (window-relative).
        spans: the ``[start, end)`` clip span of each window.
        clip_len (float): seconds per clip.
        duration (float): video duration (s).

    Returns:
        dict: ``pred_relevant_windows`` (``model.merge_candidates`` of all
        windows' candidates in video time) when the outputs hold
        ``windows``, ``pred_saliency_scores`` (:func:`average_saliency`)
        when they hold ``saliency``.
    """
    if len(outputs) != len(spans):
        raise ValueError(f'{len(outputs)} window outputs for {len(spans)} '
                         'windows')
    out = {}
    if 'windows' in outputs[0]:
        merged = model.merge_candidates(
            gather_candidates(outputs, spans, clip_len), float(duration))
        out['pred_relevant_windows'] = merged.tolist()
    if 'saliency' in outputs[0]:
        out['pred_saliency_scores'] = average_saliency(outputs, spans)
    return out
