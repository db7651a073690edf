"""CLIP architectures by their OpenAI names, and OpenAI's image
normalisation (no open_clip import: configs, recipes and converters read
these)."""

from typing import NamedTuple


class ClipArch(NamedTuple):
    """One CLIP architecture: its open_clip config (QuickGELU, as OpenAI's)
    and the shapes of its block outputs."""
    open_clip_name: str
    visual_width: int  # Cv of the visual blocks
    text_width: int  # Cq of the text blocks
    num_tokens: int  # P tokens per frame: CLS + patches


#: OpenAI CLIP architecture name -> :class:`ClipArch`
CLIP_ARCHS = {
    'ViT-B/32': ClipArch('ViT-B-32-quickgelu', 768, 512, 50),
    'ViT-B/16': ClipArch('ViT-B-16-quickgelu', 768, 512, 197),
    'ViT-L/14': ClipArch('ViT-L-14-quickgelu', 1024, 768, 257),
    'ViT-L/14-336px': ClipArch('ViT-L-14-336-quickgelu', 1024, 768, 577),
}
_ALIASES = {'ViT-L/14-336': 'ViT-L/14-336px'}
#: OpenAI CLIP image normalisation (``clip`` ``_transform`` / the official
#: ``datasets/grounding.py``)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def canonical_arch(arch: str) -> str:
    """The OpenAI name of ``arch`` (accepts ``'ViT-L/14-336'``)."""
    arch = _ALIASES.get(arch, arch)
    if arch not in CLIP_ARCHS:
        raise ValueError(f'unsupported CLIP architecture {arch!r}; expected '
                         f'one of {sorted(CLIP_ARCHS) + sorted(_ALIASES)}')
    return arch
