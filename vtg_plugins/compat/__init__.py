"""Workarounds for upstream problems, one module per upstream package.

* :mod:`.mmaction` — the DRN localizer missing from the mmaction2 wheel, the
  numpy functions its metrics still call, the ``transformers`` helpers its
  multimodal models import from their old place;
* :mod:`.mmengine` — checkpoint loading under torch's ``weights_only``
  default, bf16 autocast on CPU, atomic local writes, FSDP optimizer-state
  loading, and the DeepSpeed / FlexibleRunner paths: inputs cast to half,
  optimizers registered twice, hooks skipped on save and load, the epoch
  of re-saved checkpoints, EMA loaded before it exists;
* :mod:`.deepspeed` — the removed 1-bit optimizers mmengine imports, logs on
  stdout, 0-dim parameters it cannot broadcast.

(The torch-version problems are mmengine's calls into torch, so they live in
:mod:`.mmengine`; nothing is fixed in torch itself.)

Each fix names its upstream bug, is idempotent and does nothing when the
problem is absent. :func:`apply_all` installs them all and imports nothing
heavy: each fix waits, through an import hook (:mod:`._hooks`), for the
module it patches, so ``import vtg_plugins`` (which calls it) loads neither
torch, mmengine, mmaction nor DeepSpeed.
"""
from . import deepspeed, mmaction, mmengine


def apply_all() -> None:
    """Install every fix; each takes effect when its module is imported."""
    mmaction.apply()
    mmengine.apply()
    deepspeed.apply()


__all__ = ['apply_all', 'deepspeed', 'mmaction', 'mmengine']
