"""GroundNLQ's query text normalization.

The official CLIP token features (houzhijian/CONE
``feature_extraction/ego4d_clip_token_extractor.py``, referenced by
GroundNLQ's ``feature_extraction/README.md``) are computed from the query
made canonical by ``process_question``; the rule is shared as
``vtg_plugins.features.text_normalizers.canonical_question`` (the
``'canonical_question'`` text normalizer of feature recipes). The token
features are the query-token recipe ``'between_sot_eot_ln_final_max30'``
(:mod:`vtg_plugins.features.query_tokens`): the ViT-B/32 text transformer's
last block after ``ln_final`` (512-d), the tokens between SOT and EOT (both
excluded), queries cut to 30 BPE tokens; the configs state both as their
``query_recipe``.
"""
from vtg_plugins.features.text_normalizers import \
    canonical_question as normalize_nlq_query

__all__ = ['normalize_nlq_query']
