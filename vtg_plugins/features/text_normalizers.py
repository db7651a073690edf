"""Query text normalizers: the canonical form a feature recipe gives a query
before tokenization.

A feature recipe names its normalizer (``text_normalizer`` in a store's
``meta.json``), so extraction and inference apply the same one. Normalizers
are plain ``str -> str`` functions in :data:`TEXT_NORMALIZERS`; a project
adds its own with ``@TEXT_NORMALIZERS.register_module(name=...)``.
"""
from typing import Callable, Optional

from vtg_plugins.registry import TEXT_NORMALIZERS


@TEXT_NORMALIZERS.register_module(name='canonical_question')
def canonical_question(query: str) -> str:
    """CONE / GroundNLQ's canonical question (houzhijian/CONE
    ``feature_extraction/ego4d_clip_token_extractor.py``
    ``process_question``, used for GroundNLQ's CLIP token features): strip
    ``'.'``, then ``' '``, then ``'?'`` from both ends, lower-case, append
    ``'?'`` — ``'Where is my phone? '`` -> ``'where is my phone?'``; the
    strips run in this order only once, so ``'Where. ?'`` -> ``'where. ?'``.
    """
    return query.strip('.').strip(' ').strip('?').lower() + '?'


def build_text_normalizer(
        name: Optional[str]) -> Optional[Callable[[str], str]]:
    """The normalizer registered as ``name``; None for ``None``.

    Raises:
        ValueError: ``name`` is not registered (naming the known ones).
    """
    if name is None:
        return None
    fn = TEXT_NORMALIZERS.get(name)
    if fn is None:
        raise ValueError(
            f'unknown text normalizer {name!r}; registered: '
            f'{sorted(TEXT_NORMALIZERS.module_dict)} (a project registers '
            'its own in vtg_plugins.features.text_normalizers'
            '.TEXT_NORMALIZERS)')
    return fn
