"""Open and decode videos with decord, falling back to PyAV.

The official loaders open every video with decord only, and on any failure
(missing file, under 1 KB, decord error) silently train or test on a random
other video. Here decord is tried first (as MMAction2's ``DecordInit`` /
``DecordDecode``), PyAV when decord is not installed or fails on the file,
and a video neither can read is an error naming the file and the list line
it came from. Both decoders give the same RGB frames for the same file, and
frame ``i`` is the ``i``-th frame in presentation order for both.

PyAV counts a video's frames from its packets (nothing decoded); a file
whose header states more frames than it holds (a truncated download) is a
:class:`ShortVideoError`.
"""
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from vtg_plugins.features.frames import (DECODERS, ShortVideoError,
                                         VideoDecodeError)
from vtg_plugins.registry import TRANSFORMS
from .video_list import record_source


class PyAVFrameReader:
    """Frames of a video by index, with PyAV (the part of decord's
    ``VideoReader`` the decode transform uses: ``len`` and
    ``get_batch``).

    Args:
        path (str): the video file.

    Raises:
        VideoDecodeError: no video packets.
        ShortVideoError: fewer packets than the stream's header states.
    """

    def __init__(self, path: str) -> None:
        import av
        self.path = path
        with av.open(path) as container:
            stream = container.streams.video[0]
            stated = stream.frames
            count = sum(1 for packet in container.demux(stream)
                        if packet.pts is not None)
        if count == 0:
            raise VideoDecodeError(f'{path}: no video frames')
        if stated and count < stated:
            raise ShortVideoError(
                f'{path}: holds {count} of the {stated} frames its header '
                'states; the file looks truncated')
        self.num_frames = count

    def __len__(self) -> int:
        return self.num_frames

    def get_batch(self, indices: Sequence[int]) -> np.ndarray:
        """``uint8 [len(indices), H, W, 3]`` RGB frames (decoded in order up
        to the largest index)."""
        import av
        wanted = set(int(i) for i in indices)
        frames: Dict[int, np.ndarray] = {}
        with av.open(self.path) as container:
            decoded = container.decode(container.streams.video[0])
            for i, frame in enumerate(decoded):
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


def _error_like(cause: Exception, message: str) -> VideoDecodeError:
    """A :class:`ShortVideoError` when ``cause`` is one, else a
    :class:`VideoDecodeError`, with ``message``."""
    short = isinstance(cause, ShortVideoError)
    return (ShortVideoError if short else VideoDecodeError)(message)


def _open_decord(path: str, num_threads: int):
    import decord
    reader = decord.VideoReader(path, num_threads=num_threads,
                                ctx=decord.cpu(0))
    if len(reader) == 0:
        raise VideoDecodeError(f'{path}: no video frames')
    return reader


def open_video(path: str,
               backend: str = 'auto',
               num_threads: int = 1,
               where: str = '') -> Tuple[object, str]:
    """A frame reader of ``path`` and the decoder's name.

    Args:
        path (str): the video file.
        backend (str): ``'decord'``, ``'pyav'`` or ``'auto'`` (decord, then
            PyAV when decord is missing or fails on the file).
        num_threads (int): decord's decoding threads.
        where (str): appended to the path in errors (the list line).

    Raises:
        VideoDecodeError: no decoder could open it (each decoder's error is
            named); a :class:`ShortVideoError` when PyAV was the last one
            tried and found the file truncated.
    """
    names = DECODERS if backend == 'auto' else (backend, )
    errors, last = [], None
    for name in names:
        if name not in DECODERS:
            raise ValueError(f'unknown video backend {name!r}, expected one '
                             f"of {DECODERS} or 'auto'")
        try:
            if name == 'decord':
                return _open_decord(path, num_threads), name
            return PyAVFrameReader(path), name
        except ImportError as e:
            errors.append(f'{name}: not installed ({e})')
        except Exception as e:  # decoders raise many types on bad files
            errors.append(f'{name}: {type(e).__name__}: {e}')
            last = e
    raise _error_like(last, f'cannot open video {path}{where}: ' +
                      '; '.join(errors))


def read_frames(reader, indices: np.ndarray) -> List[np.ndarray]:
    """The frames at ``indices`` (each decoded once), ``[H, W, 3]`` uint8."""
    unique, inverse = np.unique(indices, return_inverse=True)
    batch = reader.get_batch(unique.tolist())
    if hasattr(batch, 'asnumpy'):  # decord NDArray
        batch = batch.asnumpy()
    return list(batch[inverse.reshape(-1)])


@TRANSFORMS.register_module()
class DecordWithPyAVInit(BaseTransform):
    """Open ``results['filename']`` with decord, or PyAV as the fallback.

    Required keys: ``filename`` (``ann_file``, ``line`` name the record in
    errors). Added keys: ``video_reader``, ``total_frames``,
    ``video_backend``.

    Args:
        backend (str): ``'auto'`` (decord, then PyAV), ``'decord'`` or
            ``'pyav'``.
        num_threads (int): decord's decoding threads (1 as official).

    Raises:
        FileNotFoundError: the video does not exist.
        VideoDecodeError: no decoder can read it (``ShortVideoError`` for a
            truncated file); the message names the video, the list and its
            line.
    """

    def __init__(self, backend: str = 'auto', num_threads: int = 1) -> None:
        if backend not in DECODERS + ('auto', ):
            raise ValueError(f'unknown video backend {backend!r}, expected '
                             f"one of {DECODERS} or 'auto'")
        self.backend = backend
        self.num_threads = num_threads

    def transform(self, results: dict) -> dict:
        path = results['filename']
        where = record_source(results)
        if not os.path.isfile(path):
            raise FileNotFoundError(f'video {path}{where} does not exist')
        reader, name = open_video(path, self.backend, self.num_threads,
                                  where)
        results['video_reader'] = reader
        results['total_frames'] = len(reader)
        results['video_backend'] = name
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(backend={self.backend!r})'


@TRANSFORMS.register_module()
class DecordWithPyAVDecode(BaseTransform):
    """Decode ``results['frame_inds']`` with the reader of
    :class:`DecordWithPyAVInit`; if decord fails on a frame, the video is
    decoded again with PyAV (``fallback=True``).

    Required keys: ``video_reader``, ``frame_inds``, ``total_frames``,
    ``filename``. Added keys: ``imgs`` (list of ``uint8 [H, W, 3]``),
    ``original_shape``, ``img_shape``; ``video_reader`` is released.

    Raises:
        VideoDecodeError: an index outside the video, or the frames cannot
            be decoded (``ShortVideoError`` for a truncated file); names the
            video, the list and its line.
    """

    def __init__(self, fallback: bool = True) -> None:
        self.fallback = fallback

    def transform(self, results: dict) -> dict:
        path, where = results['filename'], record_source(results)
        inds = np.asarray(results['frame_inds']).reshape(-1)
        total = results['total_frames']
        if len(inds) == 0 or inds.min() < 0 or inds.max() >= total:
            raise VideoDecodeError(
                f'video {path}{where}: frame indices '
                f'[{inds.min() if len(inds) else None}, '
                f'{inds.max() if len(inds) else None}] are outside its '
                f'{total} frames')
        reader, results['video_reader'] = results['video_reader'], None
        try:
            imgs = read_frames(reader, inds)
        except Exception as e:  # decoders raise many types on bad data
            backend = results.get('video_backend')
            if not (self.fallback and backend == 'decord'):
                raise _error_like(e, f'cannot decode video {path}{where} '
                                  f'({backend}): {e}') from None
            imgs = self._pyav_frames(path, where, inds, total, e)
            results['video_backend'] = 'pyav'
        results['imgs'] = imgs
        results['original_shape'] = imgs[0].shape[:2]
        results['img_shape'] = imgs[0].shape[:2]
        return results

    @staticmethod
    def _pyav_frames(path: str, where: str, inds: np.ndarray, total: int,
                     first: Exception) -> List[np.ndarray]:
        cause = f'decord: {type(first).__name__}: {first}'
        try:
            reader = PyAVFrameReader(path)
            if len(reader) != total:
                raise ShortVideoError(f'{path}: PyAV counts {len(reader)} '
                                      f'frames, decord {total}')
            return read_frames(reader, inds)
        except Exception as e:
            raise _error_like(
                e, f'cannot decode video {path}{where}: {cause}; pyav: '
                f'{type(e).__name__}: {e}') from None

    def __repr__(self) -> str:
        return f'{type(self).__name__}(fallback={self.fallback})'
