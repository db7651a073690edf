"""Helpers for feature-pipeline tests and demos: tiny videos written with
PyAV, a tiny CLIP config, and a direct (official-style) forward of a CLIP
model used as the reference the extractor is checked against."""
import av
import numpy as np
import torch

#: reduced-width open_clip config (same code path as ViT-B/32: 224 px input,
#: patch 32 -> P = 50 tokens, 77-token text context, QuickGELU)
TINY_CLIP = dict(
    embed_dim=32,
    quick_gelu=True,
    vision_cfg=dict(
        image_size=224, layers=3, width=64, patch_size=32, head_width=32),
    text_cfg=dict(
        context_length=77, vocab_size=49408, width=32, heads=2, layers=3))


def frame_content(i: int, fps: float, h: int = 48, w: int = 64) -> np.ndarray:
    """RGB frame i: red = 40 x (second), green = 7 x i, blue = a ramp."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = int(i / fps) * 40 % 256
    img[..., 1] = i * 7 % 256
    img[..., 2] = np.linspace(0, 255, w, dtype=np.uint8)[None]
    return img


def write_video(path,
                seconds: float,
                fps: int,
                codec: str = 'libx264',
                h: int = 48,
                w: int = 64,
                faststart: bool = False) -> None:
    """A (nearly) lossless tiny video whose content changes every frame;
    ``faststart`` puts an mp4's index (``moov``) before its data."""
    options = {'movflags': 'faststart'} if faststart else {}
    with av.open(str(path), 'w', options=options) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, 'yuv420p'
        if codec == 'libx264':
            stream.options = {'qp': '0'}
        else:
            stream.bit_rate = 8_000_000
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(
                frame_content(i, fps, h, w), format='rgb24')
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def save_tiny_checkpoint(path, seed: int = 0):
    """A random-init tiny CLIP state dict saved to ``path``; returns the
    model."""
    import open_clip
    torch.manual_seed(seed)
    model = open_clip.CLIP(**TINY_CLIP).eval()
    torch.save(model.state_dict(), path)
    return model


def normalize(frames: np.ndarray) -> torch.Tensor:
    """uint8 [N, 3, S, S] -> CLIP-normalised float (OpenAI mean / std)."""
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    return (torch.as_tensor(frames).float() / 255 - mean) / std


@torch.no_grad()
def reference_video_features(model, images: torch.Tensor, k: int):
    """The last k visual block outputs of an open_clip CLIP, written out
    (conv1 -> CLS -> +pos -> ln_pre -> every block) as the official
    yeliudev/R2-Tuning ``clip_video_tower`` computes them: [N, k, P, C],
    network order."""
    v = model.visual
    x = v.conv1(images).flatten(2).transpose(1, 2)
    cls = v.class_embedding.view(1, 1, -1).expand(len(x), 1, -1)
    x = v.ln_pre(torch.cat((cls, x), 1) + v.positional_embedding)
    outs = []
    for blk in v.transformer.resblocks:
        x = blk(x)
        outs.append(x)
    return torch.stack(outs[-k:], dim=1)


@torch.no_grad()
def reference_text_features(model, tokens: torch.Tensor, k: int):
    """The last k text block outputs of an open_clip CLIP, written out as
    the official yeliudev/R2-Tuning ``clip_query_tower`` computes them
    (causal mask, no ln_final): [N, 77, k, C]."""
    x = model.token_embedding(tokens) + model.positional_embedding
    outs = []
    for blk in model.transformer.resblocks:
        x = blk(x, attn_mask=model.attn_mask)
        outs.append(x)
    return torch.stack(outs[-k:], dim=2)
