"""Read the sampled frames of HD-VILA clips from videos or frame folders.

Videos (MSR-VTT, TGIF, pre-training) are decoded with decord, as official,
or with PyAV when decord is missing or fails on the file; both give the
same RGB frames. Frame index ``i`` is the ``i``-th frame in presentation
order.

Frame folders (ActivityNet, DiDeMo, LSMDC; official ``vis_format: frame``)
hold the frames the official ``decode_frames.py`` wrote: the full-resolution
``<frames>/<clip_id>/<name>_{i:03d}.jpg`` and the 288x180 low-resolution
copies ``<lr_frames>/<clip_id>/<name>_{i:03d}.jpg``, ``<name>`` being the
last ``/`` part of the clip id. The official loader reads the non-key frames
from the low-resolution folder and the keyframes from the full-resolution
one; the low-resolution keyframe is read here as well (it is the source of
an upsampled keyframe, see :mod:`.geometry`).

A missing video, frame or folder, an unreadable file and indices beyond the
video are errors naming the file and the annotation record (the official
loaders crash, or, for QA and pre-training, silently use a random other
video).
"""
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image

from vtg_plugins.features.frames import (DECODERS, ShortVideoError,
                                         VideoDecodeError)
from vtg_plugins.registry import TRANSFORMS
from .clip_sampling import describe_source


class PyAVFrameReader:
    """Frames of a video by index with PyAV (decord's ``len`` /
    ``get_batch`` interface).

    Args:
        path (str): the video file.

    Raises:
        VideoDecodeError: the file has no video frames.
    """

    def __init__(self, path: str) -> None:
        import av
        self.path = path
        with av.open(path) as container:
            stream = container.streams.video[0]
            self.num_frames = sum(1 for packet in container.demux(stream)
                                  if packet.pts is not None)
        if self.num_frames == 0:
            raise VideoDecodeError(f'{path}: no video frames')

    def __len__(self) -> int:
        return self.num_frames

    def get_batch(self, indices: Sequence[int]) -> np.ndarray:
        """``uint8 [len(indices), H, W, 3]`` RGB frames (repeats allowed).

        Raises:
            ShortVideoError: an index was not reached (truncated file).
        """
        import av
        wanted = set(int(i) for i in indices)
        frames: Dict[int, np.ndarray] = {}
        with av.open(self.path) as container:
            for i, frame in enumerate(
                    container.decode(container.streams.video[0])):
                if i in wanted:
                    frames[i] = frame.to_ndarray(format='rgb24')
                    if len(frames) == len(wanted):
                        break
        missing = sorted(wanted - set(frames))
        if missing:
            raise ShortVideoError(
                f'{self.path}: frames {missing[:5]} of {self.num_frames} '
                'could not be decoded; the file looks truncated')
        return np.stack([frames[int(i)] for i in indices])


def open_video(path: str, backend: str = 'auto') -> Tuple[object, str]:
    """A frame reader of ``path`` and the decoder's name.

    Args:
        path (str): the video file.
        backend (str): ``'decord'``, ``'pyav'`` or ``'auto'`` (decord, then
            PyAV when decord is missing or fails).

    Raises:
        FileNotFoundError: ``path`` is not a file.
        VideoDecodeError: no decoder can open it (each one's error named).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path} does not exist')
    names = DECODERS if backend == 'auto' else (backend, )
    errors = []
    for name in names:
        try:
            if name == 'decord':
                import decord
                reader = decord.VideoReader(
                    path, ctx=decord.cpu(0), num_threads=1)
                if len(reader) == 0:
                    raise VideoDecodeError('no video frames')
                return reader, name
            return PyAVFrameReader(path), name
        except ImportError as e:
            errors.append(f'{name}: not installed ({e})')
        except Exception as e:  # decoders raise many types on bad files
            errors.append(f'{name}: {type(e).__name__}: {e}')
    raise VideoDecodeError(f'cannot open {path}: ' + '; '.join(errors))


def read_video_frames(reader, indices: np.ndarray) -> np.ndarray:
    """``uint8 [*indices.shape, H, W, 3]`` frames (each decoded once)."""
    unique, inverse = np.unique(indices, return_inverse=True)
    batch = reader.get_batch(unique.tolist())
    if hasattr(batch, 'asnumpy'):  # decord NDArray
        batch = batch.asnumpy()
    return batch[inverse.reshape(-1)].reshape(*indices.shape, *batch.shape[1:])


def _check_backend(backend: str) -> None:
    if backend not in DECODERS + ('auto', ):
        raise ValueError(f'unknown video backend {backend!r}, expected one '
                         f"of {DECODERS} or 'auto'")


@TRANSFORMS.register_module()
class HDVILAVideoInit(BaseTransform):
    """Open ``results['filename']`` (decord, PyAV as the fallback).

    Required keys: ``filename``. Added keys: ``video_reader``,
    ``total_frames``, ``video_backend``.

    Args:
        backend (str): ``'auto'``, ``'decord'`` or ``'pyav'``.

    Raises:
        FileNotFoundError: a missing video; VideoDecodeError: an unreadable
        one (both naming the video and its annotation line).
    """

    def __init__(self, backend: str = 'auto') -> None:
        _check_backend(backend)
        self.backend = backend

    def transform(self, results: dict) -> dict:
        where = describe_source(results)
        try:
            reader, name = open_video(results['filename'], self.backend)
        except FileNotFoundError:
            raise FileNotFoundError(f'{where} does not exist') from None
        except VideoDecodeError as e:
            raise VideoDecodeError(f'{where}: {e}') from None
        results['video_reader'] = reader
        results['total_frames'] = len(reader)
        results['video_backend'] = name
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(backend={self.backend!r})'


@TRANSFORMS.register_module()
class HDVILAVideoDecode(BaseTransform):
    """Decode the sampled clips of an opened video at its native size.

    Required keys: ``video_reader``, ``frame_inds`` (``[n_clips,
    num_frm]``), ``total_frames``, ``filename``. Added keys: ``imgs``
    (``uint8 [n_clips, num_frm, H, W, 3]``, the low-resolution stream's
    source), and with ``high_res_keyframes`` ``key_imgs`` (``uint8
    [n_clips, H, W, 3]``, the native keyframes); ``video_reader`` is
    released. If decord fails on a frame, the video is decoded again with
    PyAV.

    Args:
        high_res_keyframes (bool): also keep the native keyframes (the
            official fine-tuning keyframe is the x4 upsampled low-resolution
            one, see :class:`~.geometry.HDVILAResizeCrop`).

    Raises:
        VideoDecodeError: indices outside the video, or frames that cannot
            be decoded (``ShortVideoError`` for a truncated file).
    """

    def __init__(self, high_res_keyframes: bool = False) -> None:
        self.high_res_keyframes = high_res_keyframes

    def transform(self, results: dict) -> dict:
        where = describe_source(results)
        inds = np.asarray(results['frame_inds'])
        total = results['total_frames']
        if inds.min() < 0 or inds.max() >= total:
            raise VideoDecodeError(
                f'{where}: frame indices [{inds.min()}, {inds.max()}] are '
                f'outside its {total} frames')
        reader, results['video_reader'] = results['video_reader'], None
        try:
            imgs = read_video_frames(reader, inds)
        except Exception as first:  # decoders raise many types on bad data
            if results.get('video_backend') != 'decord':
                raise _decode_error(first, where) from None
            imgs = self._retry_with_pyav(results['filename'], inds, total,
                                         where, first)
            results['video_backend'] = 'pyav'
        results['imgs'] = imgs
        if self.high_res_keyframes:
            results['key_imgs'] = imgs[:, (imgs.shape[1] - 1) // 2].copy()
        return results

    @staticmethod
    def _retry_with_pyav(path: str, inds: np.ndarray, total: int, where: str,
                         first: Exception) -> np.ndarray:
        try:
            reader = PyAVFrameReader(path)
            if len(reader) != total:
                raise ShortVideoError(f'PyAV counts {len(reader)} frames, '
                                      f'decord {total}')
            return read_video_frames(reader, inds)
        except Exception as e:
            raise _decode_error(
                e, where, f'decord: {type(first).__name__}: {first}; pyav: '
                f'{type(e).__name__}: {e}') from None

    def __repr__(self) -> str:
        return (f'{type(self).__name__}('
                f'high_res_keyframes={self.high_res_keyframes})')


def _decode_error(cause: Exception,
                  where: str,
                  detail: str = '') -> VideoDecodeError:
    short = isinstance(cause, ShortVideoError)
    detail = detail or f'{type(cause).__name__}: {cause}'
    return (ShortVideoError
            if short else VideoDecodeError)(f'cannot decode {where}: {detail}')


def frame_file(folder: str, clip_id: str, index: int) -> str:
    """``<folder>/<clip_id>/<name>_{index:03d}.jpg`` (official layout)."""
    name = clip_id.split('/')[-1]
    return os.path.join(folder, clip_id, f'{name}_{index:03d}.jpg')


def read_frame_files(folder: str, clip_id: str, indices: np.ndarray,
                     where: str) -> np.ndarray:
    """``uint8 [*indices.shape, H, W, 3]`` RGB frames of a frame folder.

    Raises:
        FileNotFoundError: a missing frame (names it and ``where``).
        VideoDecodeError: an unreadable frame, or frames of different sizes.
    """
    cache: Dict[int, np.ndarray] = {}
    for i in np.unique(indices).tolist():
        path = frame_file(folder, clip_id, i)
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{where}: frame {path} does not exist')
        try:
            with Image.open(path) as img:
                cache[i] = np.asarray(img.convert('RGB'))
        except Exception as e:  # PIL raises many types on bad files
            raise VideoDecodeError(f'{where}: cannot read frame {path}: '
                                   f'{type(e).__name__}: {e}') from None
    sizes = sorted({img.shape for img in cache.values()})
    if len(sizes) > 1:
        raise VideoDecodeError(f'{where}: frames in {folder}/{clip_id} have '
                               f'different sizes {sizes}')
    frames: List[np.ndarray] = [cache[i] for i in indices.reshape(-1)]
    return np.stack(frames).reshape(*indices.shape, *sizes[0])


@TRANSFORMS.register_module()
class LoadHDVILAFrames(BaseTransform):
    """Read the sampled clips of a frame folder (official ``load_frames``).

    Required keys: ``frame_dir`` (full-resolution folder root),
    ``lr_frame_dir`` (low-resolution folder root), ``clip_id``,
    ``frame_inds``. Added keys: ``imgs`` (``uint8 [n_clips, num_frm, h, w,
    3]`` from the low-resolution folder) and, with ``high_res_keyframes``,
    ``key_imgs`` (``uint8 [n_clips, H, W, 3]`` from the full-resolution
    folder; the official keyframes).

    Args:
        high_res_keyframes (bool): read the full-resolution keyframes (True
            as official).
    """

    def __init__(self, high_res_keyframes: bool = True) -> None:
        self.high_res_keyframes = high_res_keyframes

    def transform(self, results: dict) -> dict:
        where = describe_source(results)
        inds = np.asarray(results['frame_inds'])
        clip_id = results['clip_id']
        results['imgs'] = read_frame_files(results['lr_frame_dir'], clip_id,
                                           inds, where)
        if self.high_res_keyframes:
            middle = inds[:, (inds.shape[1] - 1) // 2]
            results['key_imgs'] = read_frame_files(results['frame_dir'],
                                                   clip_id, middle, where)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}('
                f'high_res_keyframes={self.high_res_keyframes})')
