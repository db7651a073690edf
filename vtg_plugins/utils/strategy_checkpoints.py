"""Turn the checkpoints that ``FlexibleRunner`` strategies save into plain
MMEngine checkpoints (``{'meta', 'state_dict'}`` in one file), which
``load_from``, ``mmengine.runner.load_checkpoint`` and ``tools/test.py``
load on one CPU process.

Kinds of checkpoint:

- ``DeepSpeedStrategy``: a directory ``epoch_N.pth/`` with the model states
  (``mp_rank_00_model_states.pt``, for ZeRO-3 one
  ``zero_pp_rank_{r}_mp_rank_00_model_states.pt`` per rank) holding the
  weights, buffers, ``meta`` and the runner's other states, and, with
  ZeRO, one optimizer file per rank
  (``[bf16_]zero_pp_rank_{r}_mp_rank_00_optim_states.pt``) holding that
  rank's part of the fp32 master weights. ``dtype='fp32'`` rebuilds the fp32
  weights with DeepSpeed's ``zero_to_fp32`` (ZeRO 1, 2 and 3; frozen
  parameters come from the fragments DeepSpeed saves, or, for ZeRO-1, from
  the model states); ``dtype='native'`` keeps the weights of the model
  states in the training dtype (not for ZeRO-3, whose model states hold
  empty placeholders). Buffers come from the model states. Parameters a
  run saved with ``exclude_frozen_parameters=True`` are in no file and stay
  absent. Weights a hook put in the checkpoint (``EMAHook``'s averages)
  are taken instead, as a plain checkpoint of the run would hold them.
- ``FSDPStrategy`` with ``state_dict_cfg='local'``: a directory of
  ``rank{r}.pth`` shards. They hold flattened parameters without names or
  shapes, stored as ``ShardedTensor`` objects that unpickle only in a
  process group of the saving world size, so they are refused with the way
  out: ``state_dict_cfg='full'`` saves plain checkpoints directly.
- A plain file (DDP, FSDP ``'full'``, DeepSpeed ZeRO <= 2 with
  ``save_optimizer=False``) is already loadable and is refused as such.

``meta`` (epoch, iter, seed, cfg, dataset_meta, ...) is carried over;
optimizer, scheduler and message-hub states are dropped.
"""
import contextlib
import io
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch

from .io import PathLike, atomic_write

DTYPES = ('fp32', 'native')
_MODEL_FILE = re.compile(r'^(zero_pp_rank_(\d+)_)?mp_rank_(\d+)_model_states'
                         r'\.pt$')
_OPTIM_FILE = re.compile(r'^(bf16_)?zero_pp_rank_(\d+)_mp_rank_(\d+)_optim_'
                         r'states\.pt$')
_FSDP_FILE = re.compile(r'^rank(\d+)\.pth$')


class Conversion(NamedTuple):
    """What :func:`strategy_to_plain` wrote.

    Attributes:
        dst (str): the plain checkpoint.
        kind (str): the source, e.g. ``'DeepSpeed ZeRO-2'``.
        num_tensors (int): entries of its ``state_dict``.
        dtypes (str): the floating dtypes of those, e.g. ``'float32'``.
        weights (str): where they come from, e.g. ``'fp32 master
            weights'``.
    """
    dst: str
    kind: str
    num_tensors: int
    dtypes: str
    weights: str


class _DeepSpeedFiles(NamedTuple):
    """The files of one DeepSpeed checkpoint directory, rank order."""
    model: List[str]
    optim: List[str]
    zero3: bool


def _load(path: str, mmap: bool = False) -> dict:
    """``torch.load`` ``path`` on CPU (full unpickling: these files hold
    configs and logger states besides tensors).

    Returns:
        dict: its content.

    Raises:
        ValueError: unreadable, or not a dict.
    """
    try:
        obj = torch.load(
            path, map_location='cpu', weights_only=False, mmap=mmap)
    except Exception as e:  # torch raises many types for a damaged file
        raise ValueError(f'{path}: cannot be read as a torch checkpoint '
                         f'({type(e).__name__}: {e})') from e
    if not isinstance(obj, dict):
        raise ValueError(f'{path}: holds a {type(obj).__name__}, not the '
                         f'dict of a checkpoint')
    return obj


def resolve_checkpoint(src: PathLike, tag: Optional[str] = None) -> str:
    """The checkpoint directory ``src`` names: ``src`` itself, or, with
    ``tag``, ``src/tag`` (DeepSpeed's ``checkpoint_dir`` + ``tag``).

    Raises:
        FileNotFoundError: ``src`` or the tag does not exist.
        ValueError: ``src`` is a file (already a plain checkpoint).
    """
    src = os.fspath(src)
    if not osp.exists(src):
        raise FileNotFoundError(f'{src} does not exist')
    if tag is not None:
        if not osp.isdir(src):
            raise ValueError(f'{src}: with a tag, give the directory that '
                             f'holds the checkpoints')
        path = osp.join(src, tag)
        if not osp.isdir(path):
            tags = ', '.join(sorted(os.listdir(src))) or 'nothing'
            raise FileNotFoundError(f'{src}: no checkpoint tag {tag!r} '
                                    f'(there: {tags})')
        src = path
    if not osp.isdir(src):
        raise ValueError(
            f'{src} is a file, i.e. already a plain checkpoint: load it as '
            f'it is (load_from, tools/test.py). This tool converts the '
            f'checkpoint directories of DeepSpeedStrategy and FSDPStrategy')
    return src


def _ranked(names: List[str], pattern: re.Pattern, path: str) -> List[str]:
    """The ``names`` matching ``pattern``, in rank order, as paths; refuse
    model parallelism (``mp_rank`` other than 00)."""
    found = {}
    for name in names:
        match = pattern.match(name)
        if match is None:
            continue
        if int(match.group(3)) != 0:
            raise ValueError(f'{path}: {name} is from a model-parallel run '
                             f'(mp_rank > 0), which is not supported')
        found[int(match.group(2) or 0)] = osp.join(path, name)
    return [found[r] for r in sorted(found)]


def _deepspeed_files(path: str) -> _DeepSpeedFiles:
    """The DeepSpeed files in directory ``path`` (no model file: none)."""
    names = sorted(os.listdir(path))
    model = _ranked(names, _MODEL_FILE, path)
    zero3 = any(osp.basename(f).startswith('zero_pp_rank_') for f in model)
    return _DeepSpeedFiles(model, _ranked(names, _OPTIM_FILE, path), zero3)


def _kind(path: str) -> Optional[str]:
    """``'deepspeed'``, ``'fsdp'`` (``rank{r}.pth`` shards) or None: what
    the files of directory ``path`` are named like."""
    names = os.listdir(path)
    if any(_MODEL_FILE.match(n) for n in names):
        return 'deepspeed'
    if any(_FSDP_FILE.match(n) for n in names):
        return 'fsdp'
    return None


def _refuse_unknown(path: str) -> None:
    """Raise the error for a directory that is no checkpoint kind known
    here, naming the checkpoints inside it when there are some."""
    names = sorted(os.listdir(path))
    inner = [
        n for n in names
        if osp.isdir(osp.join(path, n)) and _kind(osp.join(path, n))
    ]
    if inner:
        raise ValueError(f'{path}: holds checkpoints ({", ".join(inner)}), '
                         f'is none itself: give one of them (or its name '
                         f'as the tag)')
    raise ValueError(
        f'{path}: neither a DeepSpeed checkpoint (no mp_rank_00_model_'
        f'states.pt or zero_pp_rank_0_mp_rank_00_model_states.pt) nor an '
        f'FSDP one (no rank0.pth); it holds: {", ".join(names) or "nothing"}')


def _refuse_fsdp_local(path: str) -> None:
    """Raise the error for an FSDP ``state_dict_cfg='local'`` directory."""
    raise ValueError(
        f'{path}: an FSDPStrategy checkpoint saved with state_dict_cfg='
        f"'local' (one rank{{r}}.pth shard per rank). Its shards hold "
        f'flattened parameters without names or shapes, as ShardedTensors '
        f'that unpickle only in a process group of the saving size, so '
        f'they load back only into FSDP on as many processes and cannot be '
        f'merged offline. For plain checkpoints train with strategy=dict('
        f"type='FSDPStrategy', state_dict_cfg='full', ...): rank 0 then "
        f'saves the full state dict in one file')


def _check_zero3_model_files(files: List[str], world_size: int,
                             path: str) -> None:
    """Check a ZeRO-3 checkpoint has one readable model states file per
    data-parallel rank."""
    if len(files) != world_size:
        raise ValueError(f'{path}: {len(files)} zero_pp_rank_*_model_'
                         f'states.pt files for {world_size} data-parallel '
                         f'ranks (a save that did not finish?)')
    for file in files[1:]:
        _load(file)


def _zero_stage(files: _DeepSpeedFiles, world_size: int, path: str) -> int:
    """The ZeRO stage of the optimizer files (0 when there are none),
    after checking there is one readable file per data-parallel rank."""
    if not files.optim:
        return 0
    if len(files.optim) != world_size:
        raise ValueError(f'{path}: {len(files.optim)} *_optim_states.pt '
                         f'files for {world_size} data-parallel ranks (a '
                         f'save that did not finish?)')
    stages = set()
    for file in files.optim:
        state = _load(file, mmap=True).get('optimizer_state_dict')
        if not isinstance(state, dict) or 'zero_stage' not in state:
            raise ValueError(f'{file}: not a DeepSpeed ZeRO optimizer file '
                             f'(no optimizer_state_dict.zero_stage)')
        stages.add(int(state['zero_stage']))
    if len(stages) != 1:
        raise ValueError(f'{path}: optimizer files of ZeRO stages '
                         f'{sorted(stages)} mixed')
    return stages.pop()


def _fp32_weights(path: str) -> Dict[str, torch.Tensor]:
    """DeepSpeed's fp32 state dict for checkpoint directory ``path``,
    frozen parameters included; its progress prints are kept off the
    console."""
    from deepspeed.utils.zero_to_fp32 import \
        get_fp32_state_dict_from_zero_checkpoint
    parent, tag = osp.split(osp.abspath(path))
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter), \
                contextlib.redirect_stderr(chatter):
            return get_fp32_state_dict_from_zero_checkpoint(
                parent, tag=tag, exclude_frozen_parameters=False)
    except Exception as e:  # a damaged file fails inside DeepSpeed
        raise ValueError(f'{path}: DeepSpeed could not rebuild the fp32 '
                         f'weights ({type(e).__name__}: {e})') from e


def _copy(state_dict: Dict[str, torch.Tensor],
          fp32: bool) -> 'OrderedDict[str, torch.Tensor]':
    """Detached copies of the tensors (no views into DeepSpeed's flat
    buffers), floats as fp32 when ``fp32``."""
    return OrderedDict((k, v.detach().to(torch.float32, copy=True) if fp32
                        and v.is_floating_point() else v.detach().clone())
                       for k, v in state_dict.items())


def _merge(module: Dict[str, torch.Tensor], fp32: Dict[str, torch.Tensor],
           zero3: bool, path: str) -> 'OrderedDict[str, torch.Tensor]':
    """The fp32 state dict in the key order of ``module`` (the model
    states' ``module``): DeepSpeed's values, ``module``'s where it has none
    (ZeRO-1 does not save frozen parameters separately), floats as fp32.

    Raises:
        ValueError: ZeRO-3 weights missing (the ``module`` entries are
            placeholders then).
    """
    missing = [k for k in module if k not in fp32]
    if zero3 and missing:
        raise ValueError(f'{path}: DeepSpeed rebuilt no weights for '
                         f'{", ".join(missing)}')
    merged = OrderedDict((k, fp32.get(k, module[k])) for k in module)
    merged.update((k, v) for k, v in fp32.items() if k not in merged)
    return _copy(merged, fp32=True)


def _weights(path: str, files: _DeepSpeedFiles, states: dict,
             dtype: str) -> Tuple[Dict[str, torch.Tensor], str]:
    """The state dict to write and where it comes from.

    A ``state_dict`` entry in the model states is the one a hook chose to
    save (``EMAHook``'s averaged weights, offered under ZeRO <= 2 by
    ``vtg_plugins.compat.mmengine``): it is what a plain checkpoint of the
    run holds, so it wins, cast to fp32 for ``dtype='fp32'``.
    """
    hooked = states.get('state_dict')
    if isinstance(hooked, dict):
        return _copy(hooked, dtype == 'fp32'), "a hook's state_dict"
    if dtype == 'native':
        if files.zero3:
            raise ValueError(
                f"{path}: dtype='native' needs the model weights, which a "
                f"ZeRO-3 checkpoint keeps only partitioned with the "
                f"optimizer: use dtype='fp32'")
        return _copy(states['module'], fp32=False), 'model states weights'
    if not files.optim:
        raise ValueError(f'{path}: no *_optim_states.pt files (no ZeRO), '
                         f"so no fp32 master weights: use dtype='native'")
    return _merge(states['module'], _fp32_weights(path), files.zero3,
                  path), 'fp32 master weights'


def read_deepspeed(path: str, dtype: str = 'fp32') -> Tuple[dict, str, str]:
    """Read DeepSpeed checkpoint directory ``path`` as a plain checkpoint.

    Args:
        path (str): e.g. ``work_dir/epoch_2.pth``.
        dtype (str): ``'fp32'`` (fp32 master weights) or ``'native'`` (the
            model states' weights as saved; ZeRO 0-2).

    Returns:
        tuple[dict, str, str]: ``{'meta', 'state_dict'}``, the kind (e.g.
        ``'DeepSpeed ZeRO-3'``) and where the weights come from.
    """
    files = _deepspeed_files(path)
    states = _load(files.model[0])
    if not isinstance(states.get('module'), dict):
        raise ValueError(f'{files.model[0]}: not a DeepSpeed model states '
                         f'file (no module state dict)')
    meta = states.get('meta') or {}
    if not isinstance(meta, dict):
        raise ValueError(f'{files.model[0]}: its meta is a '
                         f'{type(meta).__name__}, not a dict')
    world_size = int(states.get('dp_world_size', 1))
    if files.zero3:  # rank r's file holds its frozen-parameter fragments
        _check_zero3_model_files(files.model, world_size, path)
    stage = _zero_stage(files, world_size, path)
    kind = f'DeepSpeed ZeRO-{stage}' if stage else 'DeepSpeed (no ZeRO)'
    state_dict, source = _weights(path, files, states, dtype)
    return dict(meta=dict(meta), state_dict=state_dict), kind, source


def _dtype_names(state_dict: Dict[str, torch.Tensor]) -> str:
    """The floating dtypes among ``state_dict``'s values, e.g.
    ``'bfloat16, float32'``."""
    names = {
        str(v.dtype).replace('torch.', '')
        for v in state_dict.values() if v.is_floating_point()
    }
    return ', '.join(sorted(names)) or 'none'


def strategy_to_plain(src: PathLike,
                      dst: PathLike,
                      dtype: str = 'fp32',
                      tag: Optional[str] = None) -> Conversion:
    """Convert the strategy checkpoint ``src`` to the plain MMEngine
    checkpoint ``dst`` (written atomically; a new file gets the usual mode,
    ``0o644`` under umask ``022``).

    Args:
        src (str | PathLike): a checkpoint directory (``work_dir/
            epoch_2.pth``), or with ``tag`` the directory holding it.
        dst (str | PathLike): the output file.
        dtype (str): ``'fp32'`` or ``'native'`` (see :func:`read_deepspeed`).
        tag (str, optional): the checkpoint's name inside ``src``.

    Returns:
        Conversion: what was written.

    Raises:
        FileNotFoundError: ``src`` or ``tag`` does not exist.
        ValueError: anything else that stops the conversion; the message
            names the file.
    """
    if dtype not in DTYPES:
        raise ValueError(f'dtype {dtype!r}: choose one of {DTYPES}')
    path = resolve_checkpoint(src, tag)
    dst = os.fspath(dst)
    if osp.isdir(dst):
        raise ValueError(f'{dst} is a directory: give the output file')
    kind = _kind(path)
    if kind == 'fsdp':
        _refuse_fsdp_local(path)
    if kind is None:
        _refuse_unknown(path)
    checkpoint, kind, source = read_deepspeed(path, dtype)
    with atomic_write(dst, 'wb') as f:
        torch.save(checkpoint, f)
    state_dict = checkpoint['state_dict']
    return Conversion(dst, kind, len(state_dict), _dtype_names(state_dict),
                      source)
