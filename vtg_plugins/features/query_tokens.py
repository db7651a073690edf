"""Query-token recipes: which tokens of CLIP's text transformer make a
query's features.

A recipe is named by what it computes; ``FeatureRecipe.text_tokens`` names
one, :class:`~vtg_plugins.features.clip.CLIPEncoder` runs it and the store's
``meta.json`` records its name and layout. Each recipe owns its
tokenization, the layout of its features, whether the text intermediates
pass through ``ln_final`` and the number of blocks it accepts. Recipes are
registered in :data:`QUERY_TOKEN_RECIPES`; a project adds its own with
``@QUERY_TOKEN_RECIPES.register_module()`` on a :class:`QueryTokenRecipe`
subclass.

Registered here:

* ``'sot_eot_last_k'``: the outputs of the last k blocks (causal mask),
  tokens SOT…EOT, *before* ``ln_final`` → ``[L, k, C]`` (the cache of
  yeliudev/R2-Tuning ``tools/extract_feat.py``);
* ``'between_sot_eot_ln_final_max30'``: the last block *after*
  ``ln_final``, the tokens strictly between SOT and EOT of a query cut to at
  most 30 BPE tokens → ``[L, C]`` (houzhijian/CONE
  ``feature_extraction/ego4d_clip_token_extractor.py`` with CONE's ``clip``
  package: ``clip.tokenize(..., max_valid_length=32)`` cuts silently,
  ``encode_text``'s ``last_hidden_state`` is sliced ``x[1:valid_len - 1]``
  with ``valid_len`` = the number of non-zero token ids). Token id 0 is the
  BPE piece ``'!'``, so a query holding it loses as many tokens at its end
  as it holds ``'!'`` pieces; this is reproduced, since features were made
  that way;
* ``'eot_ln_final_projected'``: CLIP's text embedding, the EOT token of the
  last block *after* ``ln_final`` through the text projection → ``[1, E]``
  (open_clip ``CLIP.encode_text``, not L2-normalised), the query side of
  ``FeatureRecipe(frame_features='image_embedding')``.

Tokenizers are open_clip ``SimpleTokenizer`` objects (``encode``,
``sot_token_id``, ``eot_token_id``, ``context_length``, called on a list of
texts); this module does not import open_clip.
"""
from typing import List, Optional, Sequence

import torch

from vtg_plugins.registry import QUERY_TOKEN_RECIPES


class QueryTokenRecipe:
    """Interface of a query-token recipe (stateless).

    Args:
        name (str): the name it is registered under (used in messages).

    Attributes:
        layout (str): layout of one query's features, written in
            ``meta.json`` (``L`` = the query's tokens).
        ln_final (bool): the text intermediates pass through ``ln_final``.
        max_bpe (int, optional): BPE tokens kept per query, longer queries
            being cut silently (None: queries longer than the context are
            refused or cut on request, see :meth:`tokenize`).
        projected (bool): the encoder multiplies the features :meth:`select`
            gives by CLIP's text projection (into the joint image-text
            embedding space, width ``E``).
    """
    layout: str = ''
    ln_final: bool = False
    max_bpe: Optional[int] = None
    projected: bool = False

    def __init__(self, name: str):
        self.name = name  # as registered, for messages

    def check_k(self, k: int) -> None:
        """Refuse a number of last blocks the recipe cannot use."""

    def tokenize(self, tokenizer, texts: List[str], ids: List[str],
                 truncate: bool) -> torch.Tensor:
        """CLIP tokens ``[N, context_length]`` (SOT … EOT, 0-padded).

        Raises:
            ValueError: naming each query id (from ``ids``) that the recipe
                cannot encode.
        """
        raise NotImplementedError

    def num_cut(self, tokenizer, texts: Sequence[str]) -> int:
        """How many of ``texts`` :meth:`tokenize` shortens silently."""
        if self.max_bpe is None:
            return 0
        return sum(len(tokenizer.encode(t)) > self.max_bpe for t in texts)

    def select(self, intermediates: List[torch.Tensor],
               tokens: torch.Tensor) -> List[torch.Tensor]:
        """Per-query features from the text block outputs.

        Args:
            intermediates (list[torch.Tensor]): the outputs of the last k
                text blocks, network order, each ``[N, context_length, C]``
                (after ``ln_final`` when :attr:`ln_final`).
            tokens (torch.Tensor): ``[N, context_length]`` from
                :meth:`tokenize`.

        Returns:
            list[torch.Tensor]: N float32 tensors in :attr:`layout`.
        """
        raise NotImplementedError


@QUERY_TOKEN_RECIPES.register_module(name='sot_eot_last_k')
class SotEotLastK(QueryTokenRecipe):
    """Tokens SOT…EOT of the last k blocks, before ``ln_final``:
    ``[L, k, C]``, ``L`` = the position of EOT (the largest id) + 1."""
    layout = '[L, k, C]'

    def tokenize(self, tokenizer, texts: List[str], ids: List[str],
                 truncate: bool) -> torch.Tensor:
        """``truncate``: cut long queries and end them with EOT, as the
        official ``clip.tokenize(..., truncate=True)``; by default a query
        longer than the context raises."""
        if not truncate:
            context = tokenizer.context_length
            too_long = []
            for qid, text in zip(ids, texts):
                n = len(tokenizer.encode(text)) + 2
                if n > context:
                    too_long.append(f'{qid!r} ({n} tokens)')
            raise_for_queries(
                too_long, f'queries exceed the CLIP text context of '
                f'{context} tokens (SOT and EOT included)')
        return tokenizer(texts)

    def select(self, intermediates: List[torch.Tensor],
               tokens: torch.Tensor) -> List[torch.Tensor]:
        feats = torch.stack(intermediates, dim=2).float()
        lengths = tokens.argmax(dim=-1) + 1
        return [f[:n] for f, n in zip(feats, lengths.tolist())]


@QUERY_TOKEN_RECIPES.register_module(name='eot_ln_final_projected')
class EotLnFinalProjected(SotEotLastK):
    """CLIP's text embedding: the EOT token (the largest id) of the last
    block after ``ln_final``, projected by the encoder: ``[1, E]``; needs
    ``k=1``. Tokenized as ``'sot_eot_last_k'`` (a query longer than the
    context is refused unless ``truncate``)."""
    layout = '[1, E]'
    ln_final = True
    projected = True

    def check_k(self, k: int) -> None:
        if k != 1:
            raise ValueError(f'text_tokens={self.name!r} takes the last text '
                             f'block only: k must be 1, got {k}')

    def select(self, intermediates: List[torch.Tensor],
               tokens: torch.Tensor) -> List[torch.Tensor]:
        feats = intermediates[-1].float()
        eot = tokens.argmax(dim=-1)
        return [f[i:i + 1] for f, i in zip(feats, eot.tolist())]


@QUERY_TOKEN_RECIPES.register_module(name='between_sot_eot_ln_final_max30')
class BetweenSotEotLnFinalMax30(QueryTokenRecipe):
    """The last block after ``ln_final``, tokens strictly between SOT and
    EOT of ``[SOT] + bpe[:30] + [EOT]``: ``[L, C]``, ``L`` = the non-zero
    token ids - 2 (see the module doc for id 0); needs ``k=1``."""
    layout = '[L, C]'
    ln_final = True
    max_bpe = 30

    def check_k(self, k: int) -> None:
        if k != 1:
            raise ValueError(f'text_tokens={self.name!r} takes the last text '
                             f'block only: k must be 1, got {k}')

    def tokenize(self, tokenizer, texts: List[str], ids: List[str],
                 truncate: bool) -> torch.Tensor:
        """Longer queries are cut to :attr:`max_bpe` BPE tokens whatever
        ``truncate``.

        Raises:
            ValueError: naming each query that gets no token feature.
        """
        tokens = torch.zeros(
            len(texts), tokenizer.context_length, dtype=torch.long)
        sot, eot = tokenizer.sot_token_id, tokenizer.eot_token_id
        for i, text in enumerate(texts):
            seq = [sot] + tokenizer.encode(text)[:self.max_bpe] + [eot]
            tokens[i, :len(seq)] = torch.tensor(seq)
        empty = [
            f'{qid!r} ({text!r})'
            for qid, text, n in zip(ids, texts,
                                    self._lengths(tokens).tolist()) if n <= 0
        ]
        raise_for_queries(
            empty, f'queries get no {self.name!r} token feature (no BPE '
            "token other than '!' pieces)")
        return tokens

    def select(self, intermediates: List[torch.Tensor],
               tokens: torch.Tensor) -> List[torch.Tensor]:
        feats = intermediates[-1].float()
        ends = self._lengths(tokens) + 1
        return [f[1:n] for f, n in zip(feats, ends.tolist())]

    @staticmethod
    def _lengths(tokens: torch.Tensor) -> torch.Tensor:
        """``L``: non-zero token ids minus SOT and EOT."""
        return (tokens != 0).sum(dim=-1) - 2


def build_query_token_recipe(name: str) -> QueryTokenRecipe:
    """The recipe registered as ``name``.

    Raises:
        ValueError: ``name`` is not registered (naming the known ones).
    """
    cls = QUERY_TOKEN_RECIPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f'unknown query-token recipe text_tokens={name!r}; registered: '
            f'{sorted(QUERY_TOKEN_RECIPES.module_dict)} (a project registers '
            'its own in vtg_plugins.registry.QUERY_TOKEN_RECIPES)')
    return cls(name)


def raise_for_queries(bad: List[str], what: str) -> None:
    """Raise one ValueError listing (up to 10 of) the ``bad`` queries."""
    if bad:
        raise ValueError(f'{len(bad)} {what}: ' + ', '.join(bad[:10]) +
                         (' …' if len(bad) > 10 else ''))
