"""The official data pipelines of HD-VILA fine-tuning, as config lists.

=================  =========================  ==============================
source             official loader            transforms
=================  =========================  ==============================
``'video'``        ``load_video`` (MSR-VTT    init, sample, decode,
                   retrieval / QA / MC)       ``HDVILAResizeCrop``
``'frame'``        ``load_frames`` (DiDeMo,   sample, ``LoadHDVILAFrames``,
                   LSMDC, ActivityNet)        ``HDVILAResizeCrop(None,
                                              'ninth', 'high_res')``
``'gif'``          ``load_video`` with        init, sample, decode,
                   ``use_gif`` (TGIF-QA)      ``HDVILAFitPad``
=================  =========================  ==============================

The official loaders tie the clip draw to the mode: training samples
``train_n_clips`` random clips with a random crop and flip; validation
during training samples ``train_n_clips`` random clips with the centre
crop; inference samples ``inference_n_clips`` evenly spaced clips with the
centre crop. ``train`` and ``random_clips`` choose these.
"""
from typing import List, Optional, Sequence

SOURCES = ('video', 'frame', 'gif')


def hd_vila_pipeline(source: str,
                     train: bool,
                     n_clips: int,
                     num_frm: int = 7,
                     sample_rate: int = 4,
                     random_clips: Optional[bool] = None,
                     crop_size: Sequence[int] = (160, 256),
                     resize_size: Sequence[int] = (180, 288),
                     max_size: int = 192,
                     keyframe: Optional[str] = None,
                     backend: str = 'auto') -> List[dict]:
    """The transforms of an official loader (see the module doc).

    Args:
        source (str): ``'video'``, ``'frame'`` or ``'gif'``.
        train (bool): random crop window and flip.
        n_clips (int): clips per item.
        num_frm (int): frames per clip (odd).
        sample_rate (int): frame step.
        random_clips (bool, optional): random clip middles; default
            ``train`` (pass True for the official validation during
            training).
        crop_size (Sequence[int]): ``'video'`` / ``'frame'`` crop.
        resize_size (Sequence[int]): ``'video'`` low-resolution size.
        max_size (int): ``'gif'`` square side.
        keyframe (str, optional): ``'upsample'`` / ``'high_res'``; default
            the official one (``'high_res'`` for frame folders, else
            ``'upsample'``).
        backend (str): video decoder (``'auto'``: decord, then PyAV).

    Returns:
        list[dict]: transform configs ending with ``PackHDVILAInputs``.
    """
    if source not in SOURCES:
        raise ValueError(f'source must be one of {SOURCES}, got {source!r}')
    if keyframe is None:
        keyframe = 'high_res' if source == 'frame' else 'upsample'
    high_res = keyframe == 'high_res'
    sample = dict(
        type='SampleHDVILAClips',
        n_clips=n_clips,
        num_frm=num_frm,
        sample_rate=sample_rate,
        random_clips=train if random_clips is None else random_clips)
    if source == 'frame':
        load = [
            sample,
            dict(type='LoadHDVILAFrames', high_res_keyframes=high_res)
        ]
        geometry = dict(
            type='HDVILAResizeCrop',
            crop_size=tuple(crop_size),
            train=train,
            resize_size=None,
            keyframe=keyframe,
            test_offset='ninth')
    else:
        load = [
            dict(type='HDVILAVideoInit', backend=backend), sample,
            dict(type='HDVILAVideoDecode', high_res_keyframes=high_res)
        ]
        geometry = dict(
            type='HDVILAResizeCrop',
            crop_size=tuple(crop_size),
            train=train,
            resize_size=tuple(resize_size),
            keyframe=keyframe) if source == 'video' else dict(
                type='HDVILAFitPad',
                max_size=max_size,
                train=train,
                keyframe=keyframe)
    return load + [geometry, dict(type='PackHDVILAInputs')]
