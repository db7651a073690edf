"""Draw one query's prediction: the saliency curve (for models with
saliency), the top predicted windows and, optionally, the ground truth."""
import os.path as osp
from typing import Optional, Sequence

from vtg_plugins.utils.io import atomic_write


def plot_moments(out_path: str,
                 saliency: Optional[Sequence[float]],
                 clip_len: float,
                 windows: Sequence[Sequence[float]] = (),
                 gt_windows: Optional[Sequence[Sequence[float]]] = None,
                 query: str = '',
                 duration: Optional[float] = None,
                 top_k: int = 3) -> str:
    """Save a PNG (written atomically) and return its path.

    Args:
        out_path (str): the image file.
        saliency (Sequence[float], optional): ``[T]`` per-clip scores;
            None draws the windows only.
        clip_len (float): seconds per clip (x axis in seconds).
        windows (Sequence): predicted ``[start, end, score]`` rows, best
            first; the first ``top_k`` are drawn, darker = higher rank.
        gt_windows (Sequence, optional): ground-truth ``[start, end]`` rows.
        query (str): the title.
        duration (float, optional): x-axis extent (default ``T * clip_len``,
            or the last predicted end without saliency).
        top_k (int): predicted windows drawn.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    saliency = list(saliency or ())
    duration = duration or len(saliency) * clip_len or max(
        [w[1] for w in windows] + [clip_len])
    fig, ax = plt.subplots(figsize=(10, 3.2))
    if saliency:
        times = [(i + 0.5) * clip_len for i in range(len(saliency))]
        ax.plot(times, saliency, color='tab:blue', lw=1.5, label='saliency')
    for rank, win in enumerate(list(windows)[:top_k]):
        score = f' {win[2]:.2f}' if len(win) > 2 else ''
        ax.axvspan(
            win[0],
            win[1],
            color='tab:orange',
            alpha=0.45 / (rank + 1),
            label=f'pred #{rank + 1}{score}')
    for i, win in enumerate(gt_windows or ()):
        ax.axvspan(
            win[0],
            win[1],
            ymin=0,
            ymax=0.08,
            color='tab:green',
            label='ground truth' if i == 0 else None)
    ax.set_xlim(0, duration)
    ax.set_xlabel('time (s)')
    ax.set_ylabel('saliency' if saliency else '')
    ax.set_title(query if len(query) < 100 else query[:97] + '...')
    ax.legend(loc='upper right', fontsize=8)
    fig.tight_layout()
    ext = osp.splitext(out_path)[1].lstrip('.') or 'png'
    with atomic_write(out_path, 'wb') as f:
        fig.savefig(f, format=ext, dpi=100)
    plt.close(fig)
    return out_path
