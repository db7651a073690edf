"""GroundNLQ's query text normalization.

The official CLIP token features (houzhijian/CONE
``feature_extraction/ego4d_clip_token_extractor.py``, referenced by
GroundNLQ's ``feature_extraction/README.md``) are computed from the query
made canonical by ``process_question``: strip ``'.'``, then ``' '``, then
``'?'`` from both ends, lower-case, append ``'?'``. The token features are
the ViT-B/32 text transformer's last block after ``ln_final`` (512-d), the
tokens between SOT and EOT (both excluded).
"""


def normalize_nlq_query(query: str) -> str:
    """The official canonical form of a query, e.g. ``'Where is my
    phone? '`` -> ``'where is my phone?'`` (the strips run in the official
    order, so ``'Where. ?'`` -> ``'where. ?'``)."""
    return query.strip('.').strip(' ').strip('?').lower() + '?'
