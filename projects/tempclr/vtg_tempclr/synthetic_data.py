"""One synthetic data folder for the tiny TempCLR configs.

:func:`write_synthetic_data` writes, under one root, everything that
``configs/tempclr/tempclr_tiny_*`` read: a WordPiece vocabulary, HowTo100M
pre-training shards (:func:`vtg_tempclr.testing.write_how2_shards`), a
YouCook2 validation set and a CrossTask release
(:mod:`vtg_tempclr.testing_downstream`), all in the official layouts::

    root/vocab.txt
    root/howto100m/how2_s3d_train.lst, feat_how2_s3d_shard/...
    root/youcook2/youcook_val.pkl, youcookii_annotations_trainval.json,
                  features/
    root/crosstask/tasks_primary.txt, ..., annotations/, features/

The pre-training captions draw their tokens from the same vocabulary, so
the tiny BERT of the configs (``vocab_size`` = :data:`VOCAB_SIZE`) reads
every id; each video has 8 to 16 captions, enough for clips that do not
overlap (which the alignment loss needs).
"""
from pathlib import Path
from typing import Dict, Union

from .testing import write_how2_shards
from .testing_downstream import (WORDS, tiny_crosstask, tiny_youcook2,
                                 write_vocab)

#: BERT's five special tokens, then :data:`WORDS`
VOCAB_SIZE = 5 + len(WORDS)


def write_synthetic_data(root: Union[str, Path],
                         feature_dim: int = 32,
                         num_videos: int = 16,
                         seed: int = 0) -> Dict[str, str]:
    """Write the synthetic TempCLR data folder (see the module doc).

    Args:
        root: output folder (created).
        feature_dim (int): video feature size ``D`` of every part.
        num_videos (int): pre-training videos (8 per shard).
        seed (int): seed of everything drawn.

    Returns:
        dict: ``vocab_file``, ``howto100m``, ``youcook2`` and ``crosstask``
        (the folders).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    vocab = write_vocab(root / 'vocab.txt')
    write_how2_shards(
        root / 'howto100m',
        num_videos=num_videos,
        shard_size=8,
        feature_dim=feature_dim,
        vocab_size=VOCAB_SIZE,
        seed=seed,
        frames=(30, 60),
        captions=(8, 16),
        tokens=(2, 6))
    tiny_youcook2(root / 'youcook2', dim=feature_dim, seed=seed)
    tiny_crosstask(root / 'crosstask', dim=feature_dim, seed=seed)
    return dict(
        vocab_file=str(vocab),
        howto100m=str(root / 'howto100m'),
        youcook2=str(root / 'youcook2'),
        crosstask=str(root / 'crosstask'))
