"""Official HD-VILA weights -> our HD-VILA models.

Sources are official e2e checkpoints (``hdvila_stage1.pt``,
``hdvila_stage2.pt``, retrieval / QA / MC fine-tunes), the CNN file
(``res50_mmdetection.pth``) and the BERT file
(``bert-large-uncased/pytorch_model.bin``) the official runs start from;
:mod:`vtg_hd_vila.official_weights` reads them into our names. Several are
applied in the official order: CNN and BERT files first, the e2e
checkpoint over them (``load_separate_ckpt``, then ``e2e_weights_path``).

Layers: a stage-1 file holds the lower half of the encoder only (see
:func:`~vtg_hd_vila.official_weights.num_layers`, which reads the BERT's
layer count ``n``, our ``bert_config.num_hidden_layers``).

Targets (:data:`TARGETS`): ``stage1``, ``stage2``, ``retrieval``, ``qa``,
``mc``, ``msrvtt_mc``. Official keys the target has no place for are
dropped, each with its reason: ``cnn_low.layer4.*`` and
``timesformer.norm.*`` (built, never run),
``transformer.bert.visual_embeddings.position_embeddings.weight`` (never
read); for the stage-1 dual encoders (``stage1``, ``retrieval``,
``msrvtt_mc``) layers ``n//2 ..``, ``visual_embeddings``, ``pooler2`` and
``cls`` (of stage-2 / QA / MC and BERT files); for ``qa`` / ``mc``
``pooler1``, ``t_proj``, ``v_proj``, ``cls``; for the others
``classifier``. Every other key must be a key of the target model, with
its shape: the target is built once on the CPU with the sizes the weights
show (BERT-large takes seconds), and tensors become its dtypes (float32).

Strictness: a part (:data:`~vtg_hd_vila.official_weights.PARTS`:
``video_encoder.cnn``, ``transformer.bert.encoder``,
``transformer.t_proj``, ...) a source fills must be complete, with one
exception, the official stage-2 start (``res50_mmdetection.pth
bert-large-uncased hdvila_stage1.pt --model stage2``; also into ``qa`` /
``mc``): a stage-1 file into a cross-modal target fills encoder layers
``0 .. n/2-1`` (all of them) over the BERT file's, and layers ``n/2 ..``
stay the BERT file's; without the BERT file that is an error naming those
layers. A part no source fills keeps the model's initialisation and is
listed in ``meta['init_groups']``: with an e2e checkpoint only a task head
(:data:`~vtg_hd_vila.official_weights.HEADS`, e.g. the QA ``classifier``
when starting from ``hdvila_stage2.pt``, as the official fine-tuning does,
or ``visual_embeddings`` / ``pooler2`` in the stage-2 start);
with CNN / BERT files alone, whatever they do not hold (the official
stage-1 start). :func:`load_converted_checkpoint` loads strictly, allowing
exactly those parts to be absent. Errors are ``ValueError``\\ s naming the
file and the keys.

``tools/convert_official.py`` is the command line of
:func:`convert_checkpoint`; ``tools/check_parity.py`` uses
:func:`convert_state_dicts` and :func:`load_state`.
"""
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from mmengine.runner.checkpoint import CheckpointLoader
from torch import Tensor, nn

from vtg_plugins.registry import MODELS
from vtg_plugins.utils.io import atomic_write
from .official_weights import (BERT, HEADS, OFFICIAL_HEADS, PARTS, WRAPPERS,
                               Renamed, layer_of, num_layers, part_of,
                               read_official_weights, read_source,
                               resnet_depth, strip_module)

__all__ = [
    'TARGETS', 'Conversion', 'read_official_weights', 'convert_state_dicts',
    'convert_checkpoint', 'load_state', 'load_converted_checkpoint'
]

#: ``--model`` name -> our model type
TARGETS = dict(
    stage1='HDVILAPretrainStage1',
    stage2='HDVILAPretrainStage2',
    retrieval='HDVILARetrieval',
    qa='HDVILAVideoQA',
    mc='HDVILAMultipleChoice',
    msrvtt_mc='HDVILARetrievalMultipleChoice')
TEXT_ONLY = ('stage1', 'retrieval', 'msrvtt_mc')
CLASSIFIERS = ('qa', 'mc')
TOOL = 'projects/hd_vila/tools/convert_official.py'


@dataclass
class Conversion:
    """Result of :func:`convert_state_dicts`.

    Attributes:
        state_dict: our keys (in the target's order) -> tensors.
        init_groups: parts no source fills (they keep the model's init).
        config: our model type and the sizes the weights show (head counts
            and the TimeSformer grid's aspect are not in them).
        sources: per source (in the order applied) ``path``, ``kind``
            (``e2e`` / ``cnn`` / ``bert``), ``flavour`` (e2e: ``stage1`` /
            ``stage2`` / ``qa`` / ``mc``), ``dropped`` (official key ->
            reason), ``tied`` (keys filled from their tied partner).
    """
    state_dict: Dict[str, Tensor]
    init_groups: List[str]
    config: Dict[str, Any]
    sources: List[Dict[str, Any]] = field(default_factory=list)


def _drop_reason(key: str, target: str, text_layers: int) -> Optional[str]:
    """Why the official ``key`` (in our names) has no place in
    ``target``."""
    if key.startswith(
        ('video_encoder.cnn_low.layer4.', 'video_encoder.timesformer.norm.')):
        return 'built by the official model but never run'
    if key == BERT + 'visual_embeddings.position_embeddings.weight':
        return 'never read by the official model'
    part, layer = part_of(key), layer_of(key)
    if target in TEXT_ONLY and (part in HEADS[:3] or
                                (layer is not None and layer >= text_layers)):
        return 'the stage-1 dual encoder holds the text half only'
    if target in CLASSIFIERS and part in (BERT + 'pooler1',
                                          'transformer.t_proj',
                                          'transformer.v_proj',
                                          'transformer.cls'):
        return 'the QA / MC models do not build it (never read)'
    if target not in CLASSIFIERS and part == 'transformer.classifier':
        return f'a QA / MC head; {TARGETS[target]} has none'
    return None


def _infer_config(sd: Mapping[str, Tensor], target: str,
                  layers: Optional[int]) -> Dict[str, Any]:
    """Our model config with the sizes the (renamed) weights show and the
    BERT's ``layers`` (:func:`~vtg_hd_vila.official_weights.num_layers`)."""

    def size(key, dim):
        return int(sd[key].shape[dim]) if key in sd else None

    emb, tf = BERT + 'embeddings.', 'video_encoder.timesformer.'
    bert = dict(
        vocab_size=size(emb + 'word_embeddings.weight', 0),
        hidden_size=size(emb + 'word_embeddings.weight', 1),
        max_position_embeddings=size(emb + 'position_embeddings.weight', 0),
        type_vocab_size=size(emb + 'token_type_embeddings.weight', 0),
        intermediate_size=size(
            BERT + 'encoder.layer.0.intermediate.dense.weight', 0),
        max_grid_row_position_embeddings=size(
            BERT + 'visual_embeddings.row_position_embeddings.weight', 0),
        max_grid_col_position_embeddings=size(
            BERT + 'visual_embeddings.col_position_embeddings.weight', 0),
        num_hidden_layers=layers)
    blocks = {k.split('.')[3] for k in sd if k.startswith(tf + 'blocks.')}
    video = dict(
        hidden_size=bert['hidden_size']
        or size('video_encoder.grid_encoder.0.weight', 0),
        resnet_depth=resnet_depth(list(sd)),
        timesformer_depth=len(blocks) or None,
        num_frames=size(tf + 'time_embed', 1))
    config = dict(
        type=TARGETS[target],
        video_encoder=dict(
            type='HDVILAVideoEncoder',
            **{
                k: v
                for k, v in video.items() if v is not None
            }),
        bert_config={
            k: v
            for k, v in bert.items() if v is not None
        })
    labels = size('transformer.classifier.2.weight', 0)
    if target == 'qa' and labels is not None:
        config['num_labels'] = labels
    return config


def _target_state(config: Dict[str, Any],
                  grid_cells: int) -> Dict[str, Tensor]:
    """The state dict of our model with ``config``'s sizes (head counts
    change no name or shape: one head is built)."""
    cfg = dict(
        config,
        bert_config=dict(config['bert_config'], num_attention_heads=1),
        video_encoder=dict(
            config['video_encoder'],
            timesformer_heads=1,
            grid_size=(1, grid_cells)))
    if config['type'] == TARGETS['qa']:
        cfg.setdefault('num_labels', 1)
    return MODELS.build(cfg).state_dict()


def _check_shapes(kept: Renamed, own: Mapping[str, Tensor],
                  source: str) -> None:
    bad = [
        f'{o} has shape {list(v.shape)}, {k} needs {list(own[k].shape)}'
        for k, (o, v) in kept.items() if v.shape != own[k].shape
    ] + [
        f'{o} is {v.dtype}, {k} is {own[k].dtype}'
        for k, (o, v) in kept.items()
        if v.is_floating_point() != own[k].is_floating_point()
    ]
    if bad:
        raise ValueError(f'{source}: {len(bad)} tensors do not fit: '
                         f'{bad[:8]}')


def _fit(out: Renamed, info: Dict[str, Any], own: Mapping[str, Tensor],
         target: str, text_layers: int, below: Dict[str, Tensor]) -> Renamed:
    """The keys of one source the target keeps (checked: known, shaped,
    complete parts; a stage-1 file into a cross-modal target: layers
    ``text_layers ..`` in ``below``, the keys of the sources applied
    before it); the others go to ``info['dropped']``."""
    name = info['path']
    kept, unknown = {}, []
    for key, (official, value) in out.items():
        why = _drop_reason(key, target, text_layers)
        if why is not None:
            info['dropped'].setdefault(official, why)
        elif key in own:
            kept[key] = (official, value)
        else:
            unknown.append(official)
    if unknown:
        raise ValueError(f'{name}: {len(unknown)} keys {TARGETS[target]} has '
                         f'no place for: {unknown[:8]}')
    for official, _ in kept.values():  # a CNN key kept in one branch
        info['dropped'].pop(official, None)
    _check_shapes(kept, own, name)
    parts = {part_of(k) for k in kept}
    missing = [k for k in own if part_of(k) in parts and k not in kept]
    upper = []
    if info.get('flavour') == 'stage1' and target not in TEXT_ONLY:
        upper = [
            k for k in missing
            if layer_of(k) is not None and layer_of(k) >= text_layers
        ]
        missing = [k for k in missing if k not in upper]
    if missing:
        raise ValueError(f'{name}: {len(missing)} keys missing (our names): '
                         f'{missing[:8]}')
    lacking = sorted({layer_of(k) for k in upper if k not in below})
    if lacking:
        raise ValueError(
            f'{name}: an official stage-1 checkpoint holds encoder layers 0 '
            f'.. {text_layers - 1} only; {TARGETS[target]} also needs layers '
            f'{lacking[0]} .. {lacking[-1]} ({BERT}encoder.layer.'
            f'{lacking[0]}.* ..): give the BERT file too, as the official '
            'start does (CNN and BERT files, then the stage-1 checkpoint)')
    return kept


def convert_state_dicts(sources: Sequence[Tuple[str, Mapping[str, Tensor]]],
                        target: str) -> Conversion:
    """Official weights -> our ``target`` model (see the module doc).

    Args:
        sources: ``(name, state dict)`` of at most one e2e checkpoint, one
            CNN and one BERT file (``name`` appears in errors), e.g. from
            :func:`read_official_weights`.
        target: a key of :data:`TARGETS`.

    Raises:
        ValueError: naming the source and the keys that are unknown,
            missing or mis-shaped, or the parts no source fills.
    """
    if target not in TARGETS:
        raise ValueError(f'unknown target {target!r}; one of {list(TARGETS)}')
    if not sources:
        raise ValueError('no official weights to convert')
    read = []
    for name, sd in sources:
        out, info = read_source(name, sd)
        if any(info['kind'] == i['kind'] for _, i in read):
            raise ValueError(f'{name}: a second {info["kind"]} source')
        read.append((out, info))
    read.sort(key=lambda r: r[1]['kind'] == 'e2e')  # the official order
    merged = {k: v for out, _ in read for k, (_, v) in out.items()}
    names = ', '.join(i['path'] for _, i in read)
    try:
        config = _infer_config(merged, target, num_layers(read))
        cells = merged.get('video_encoder.timesformer.pos_embed')
        own = _target_state(config, 1 if cells is None else cells.shape[1])
    except ValueError as e:
        raise ValueError(f'{names}: {e}') from None
    orphans = [k for k in own if part_of(k) is None]
    if orphans:  # a model grew a module the converter does not know
        raise RuntimeError(f'{TARGETS[target]} keys in no converter part '
                           f'(update official_weights.PARTS): {orphans[:8]}')
    text_layers = config['bert_config'].get('num_hidden_layers', 24) // 2
    state = {}
    for out, info in read:
        kept = _fit(out, info, own, target, text_layers, state)
        state.update({k: v for k, (_, v) in kept.items()})
    filled = {part_of(k) for k in state}
    fresh = [
        p for p in PARTS
        if p not in filled and any(part_of(k) == p for k in own)
    ]
    flavours = [i['flavour'] for _, i in read if i['kind'] == 'e2e']
    trunk = [p for p in fresh if p not in HEADS]
    if flavours and trunk:
        raise ValueError(f'{TARGETS[target]}: no source fills {trunk} (an '
                         f'official {flavours[0]} checkpoint does not hold '
                         'them)')
    state = {
        k:
        state[k].to(own[k].dtype) if state[k].is_floating_point() else state[k]
        for k in own if k in state
    }
    return Conversion(state, fresh, config, [i for _, i in read])


def convert_checkpoint(sources: Sequence[str], dst: str,
                       target: str) -> Conversion:
    """Convert the official files ``sources`` into the MMEngine checkpoint
    ``dst`` (``{'meta', 'state_dict'}``, written atomically: nothing is
    written on error)."""
    if any(os.path.abspath(s) == os.path.abspath(dst) for s in sources):
        raise ValueError(f'{dst}: the output would overwrite a source')
    weights = [(s, read_official_weights(s)) for s in sources]
    dtypes = sorted({str(v.dtype) for _, sd in weights for v in sd.values()})
    conversion = convert_state_dicts(weights, target)
    meta = dict(
        converter='vtg_hd_vila convert_official',
        model=target,
        config=conversion.config,
        init_groups=conversion.init_groups,
        sources=[
            dict(info, path=os.path.abspath(info['path']))
            for info in conversion.sources
        ],
        source_dtypes=dtypes)
    with atomic_write(dst, 'wb') as f:
        torch.save(dict(meta=meta, state_dict=conversion.state_dict), f)
    return conversion


def load_state(model: nn.Module,
               state_dict: Mapping[str, Tensor],
               init_groups: Sequence[str],
               source: str,
               partial: bool = False) -> None:
    """Load ``state_dict`` into ``model``: every model key must be in it
    unless under one of ``init_groups`` (those keep their values) or
    ``partial`` is set (then it overwrites only the keys it holds), no key
    may be left over, every shape must agree.

    Raises:
        ValueError: naming ``source`` and the keys.
    """
    own = model.state_dict()
    fresh = tuple(g + '.' for g in init_groups)
    missing = [] if partial else [
        k for k in own if k not in state_dict and not k.startswith(fresh)
    ]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        f'{k}: {list(state_dict[k].shape)} in the file, {list(v.shape)} in '
        'the model' for k, v in own.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    problems = [
        f'{len(keys)} {what} {keys[:8]}'
        for what, keys in (('missing keys', missing), ('unexpected keys',
                                                       unexpected),
                           ('shape mismatches:', shapes)) if keys
    ]
    if problems:
        raise ValueError(f'{source}: does not fit {type(model).__name__}: ' +
                         '; '.join(problems))
    model.load_state_dict(
        dict(state_dict), strict=not (init_groups or partial))


def load_converted_checkpoint(model: nn.Module,
                              path: str,
                              partial: bool = False) -> None:
    """Load a checkpoint :func:`convert_checkpoint` wrote (or MMEngine
    saved) into ``model`` with :func:`load_state`, the ``init_groups`` of
    its meta allowed to be absent (with ``partial``, any key: the file
    overwrites the part it holds, e.g. a stage-1 run over a stage-2
    start); ``path`` is local or a URL MMEngine reads.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an official (unconverted) file, or keys that do not
            fit, naming the file.
    """
    path = os.fspath(path)
    if '://' not in path and not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path}: not a checkpoint with a state dict')
    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
    state_dict = next(
        (ckpt[k] for k in WRAPPERS if isinstance(ckpt.get(k), dict)), ckpt)
    state_dict = strip_module(state_dict, path)
    official = [k for k in state_dict if k.split('.')[0] in OFFICIAL_HEADS]
    if official:
        raise ValueError(f'{path}: an official HD-VILA / BERT / ResNet file '
                         f'(keys such as {official[:3]}); convert it first '
                         f'with {TOOL}')
    load_state(model, state_dict, meta.get('init_groups', ()), path,
               partial)
