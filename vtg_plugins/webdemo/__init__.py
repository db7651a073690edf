"""The local web page of ``vtg demo``: a video and text queries in, the
saliency curve with the predicted moments, the top moments as times that
seek the player, and the QVHighlights submission lines out.

:mod:`.results` turns predictions into what the page shows (no web
framework needed); :mod:`.app` builds the Gradio page around any
:class:`~vtg_plugins.apis.MomentRetrievalInferencer` (``pip install
vtg_plugins[demo]`` installs Gradio).
"""
from .results import (moment_rows, parse_queries, submission_lines,
                      submission_record)

__all__ = [
    'moment_rows', 'parse_queries', 'submission_lines', 'submission_record'
]
