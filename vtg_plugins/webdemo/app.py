"""The Gradio page of ``vtg demo`` around a moment-retrieval inferencer.

Elements carry ``elem_id`` s (``vtg-video``, ``vtg-queries``, ``vtg-top-k``,
``vtg-run``, ``vtg-plots``, ``vtg-moments``, ``vtg-submission``,
``vtg-submission-text``) so that a browser test can drive the page.
"""
import os.path as osp
import tempfile
from typing import Callable, List, Optional, Tuple

from vtg_plugins.apis.plot import plot_moments
from vtg_plugins.utils.io import atomic_write
from .results import (MOMENT_COLUMNS, moment_rows, parse_queries,
                      submission_lines)

#: seeks the page's video player to the time the clicked moment starts
SEEK_JS = """(t) => {
  const v = document.querySelector('#vtg-video video');
  if (v !== null && t !== null && !Number.isNaN(t)) { v.currentTime = t; }
  return t;
}"""
#: no web fonts: the page must render without internet
_SYSTEM_FONTS = ('ui-sans-serif', 'system-ui', 'sans-serif')
_MONO_FONTS = ('ui-monospace', 'monospace')


def predict_page(inferencer, video: Optional[str], queries_text: str,
                 top_k: int, out_dir: str) -> Tuple[list, list, str, str]:
    """What the page shows for one request.

    Args:
        inferencer: a :class:`~vtg_plugins.apis.MomentRetrievalInferencer`
            (or any callable ``(video, queries) -> predictions`` with a
            ``clip_len``).
        video (str, optional): the uploaded video (or feature) file.
        queries_text (str): one query per line.
        top_k (int): moments per query in the table and the plots.
        out_dir (str): where the plots and the submission file go.

    Returns:
        tuple: gallery items ``[(png, caption)]`` (one per query), moment
        rows (:func:`~.results.moment_rows`), the submission file path and
        its text.

    Raises:
        ValueError, FileNotFoundError: on a missing video, no query or an
            input the inferencer refuses (the message names it).
    """
    if not video:
        raise ValueError('upload a video first')
    queries = parse_queries(queries_text)
    top_k = int(top_k)
    preds = inferencer(video, queries)
    gallery = []
    for i, pred in enumerate(preds):
        png = plot_moments(
            osp.join(out_dir, f'moments_q{i}.png'),
            pred.get('pred_saliency_scores'),
            inferencer.clip_len,
            pred['pred_relevant_windows'],
            query=pred['query'],
            duration=pred['duration'],
            top_k=top_k)
        gallery.append((png, f'{i}: {pred["query"]}'))
    text = submission_lines(preds)
    stem = preds[0].get('vid') or 'video'
    sub_path = osp.join(out_dir, f'{stem}_submission.jsonl')
    with atomic_write(sub_path, 'w', encoding='utf-8') as f:
        f.write(text)
    return gallery, moment_rows(preds, top_k), sub_path, text


def build_page(inferencer, title: str, description: str = ''):
    """The ``gradio.Blocks`` page serving ``inferencer``."""
    import gradio as gr

    def on_run(video, queries_text, top_k):
        out_dir = tempfile.mkdtemp(prefix='vtg_demo_')
        try:
            return predict_page(inferencer, video, queries_text, top_k,
                                out_dir)
        except (ValueError, FileNotFoundError) as e:
            raise gr.Error(str(e))

    def on_select(table, evt: gr.SelectData) -> Optional[float]:
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) \
            else evt.index
        values = table.values.tolist() if hasattr(table, 'values') \
            else table['data']
        if not values or row >= len(values) or values[row][2] in ('', None):
            return None
        return float(values[row][2])

    theme = gr.themes.Default(
        font=list(_SYSTEM_FONTS), font_mono=list(_MONO_FONTS))
    with gr.Blocks(title=title, theme=theme) as page:
        gr.Markdown(f'## {title}\n{description}')
        with gr.Row():
            with gr.Column():
                video = gr.Video(
                    label='video', sources=['upload'], elem_id='vtg-video')
                queries = gr.Textbox(
                    label='queries (one per line)',
                    lines=3,
                    placeholder='a person opens the fridge',
                    elem_id='vtg-queries')
                top_k = gr.Slider(
                    1,
                    10,
                    value=5,
                    step=1,
                    label='moments per query',
                    elem_id='vtg-top-k')
                run = gr.Button(
                    'Find moments', variant='primary', elem_id='vtg-run')
            with gr.Column():
                plots = gr.Gallery(
                    label='saliency and predicted moments (one per query)',
                    columns=1,
                    object_fit='contain',
                    height='auto',
                    elem_id='vtg-plots')
                moments = gr.Dataframe(
                    headers=list(MOMENT_COLUMNS),
                    interactive=False,
                    label='top moments (click a row to play from its start)',
                    elem_id='vtg-moments')
                seek = gr.Number(visible=False)
                submission = gr.File(
                    label='QVHighlights submission (jsonl)',
                    elem_id='vtg-submission')
                submission_text = gr.Textbox(
                    label='submission lines',
                    lines=2,
                    max_lines=5,
                    elem_id='vtg-submission-text')
        run.click(on_run, [video, queries, top_k],
                  [plots, moments, submission, submission_text])
        moments.select(on_select, moments, seek).then(
            None, seek, None, js=SEEK_JS)
    return page
