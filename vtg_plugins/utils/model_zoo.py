"""The model zoo: OpenMMLab model-index files and their check.

``mim search PACKAGE`` reads the package's ``model-index.yml``, whose
``Import`` lists metafiles (one per method, ``configs/<method>/metafile.yml``
in MMAction2's layout), each with

- ``Collections``: ``Name``, ``README``, ``Paper`` (``Title``, ``URL``),
  ``Code`` (``URL``);
- ``Models``, one per config: ``Name`` (the config's stem), ``In
  Collection``, ``Config``, ``Metadata`` (``Architecture``, ``Training
  Data``; ``Training Resources: N GPUs`` -- ``Test Resources`` for a config
  that only tests -- and ``Batch Size`` as the ``{gpus}xb{batch}`` field of
  the name states them, ``Epochs`` as its ``-{n}e``; ``Engine Variants``: the
  configs that train the same model on another engine, DeepSpeed, FSDP,
  AMP), optional ``Results`` (``Dataset``, ``Task``, ``Metrics``: name ->
  number) and ``Weights``.

Paths are relative to the folder of ``model-index.yml``. ``Weights`` names a
checkpoint file of the model ``STEM`` of the index (an evaluation-only
config names the one of the model it evaluates) in one of two forms:

- ``STEM_YYYYMMDD-HHHHHHHH.pth``: published, ``HHHHHHHH`` the first 8 hex
  digits of the file's sha256 (OpenMMLab's convention;
  :func:`published_name`);
- ``STEM.pth``: converted, not yet published; the line before it is a
  comment naming ``publish_model``, the tool that gives it its hash.

The checks of an index are in :mod:`vtg_plugins.utils.model_zoo_checks`.
"""
import datetime
import hashlib
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Tuple

import yaml

INDEX_FILE = 'model-index.yml'
ENGINE_VARIANTS = 'Engine Variants'
#: name tokens of the demo configs that stay out of a model zoo
DEMO_TOKENS = frozenset({'tiny', 'synthetic'})
_PUBLISHED = re.compile(r'^(.+)_(\d{8})-([0-9a-f]{8})\.pth$')


class ModelZooError(ValueError):
    """A model-index or metafile that cannot be read as one."""


@dataclass
class Metafile:
    """One imported metafile: its path (relative to the root), text and
    parsed ``Collections`` / ``Models``."""
    path: str
    text: str
    collections: List[dict]
    models: List[dict]


@dataclass
class ModelIndex:
    """``model-index.yml`` of ``root`` and the metafiles it imports
    (``missing``: imported paths that do not exist)."""
    root: str
    imports: List[str]
    metafiles: List[Metafile] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)

    def models(self) -> Iterator[Tuple[Metafile, dict]]:
        for meta in self.metafiles:
            for model in meta.models:
                yield meta, model

    @property
    def names(self) -> set:
        return {m.get('Name') for _, m in self.models()}


def _read_yaml(path: str, shown: str) -> Tuple[str, dict]:
    with open(path, encoding='utf-8') as f:
        text = f.read()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ModelZooError(f'{shown}: not valid YAML: {e}') from e
    if not isinstance(data, dict):
        raise ModelZooError(f'{shown}: holds a {type(data).__name__}, not '
                            'a mapping')
    return text, data


def _list_of_dicts(data: dict, key: str, shown: str) -> List[dict]:
    value = data.get(key) or []
    if not isinstance(value, list) or \
            not all(isinstance(v, dict) for v in value):
        raise ModelZooError(f'{shown}: {key} must be a list of mappings')
    return value


def load_model_index(root: str, index_file: str = INDEX_FILE) -> ModelIndex:
    """Read ``root/index_file`` and its imports.

    Raises:
        ModelZooError: a file that is not YAML or has the wrong shape.
    """
    path = osp.join(root, index_file)
    if not osp.isfile(path):
        raise ModelZooError(f'{index_file}: no such file in {root}')
    _, data = _read_yaml(path, index_file)
    imports = data.get('Import')
    if not isinstance(imports, list) or \
            not all(isinstance(i, str) for i in imports):
        raise ModelZooError(f'{index_file}: Import must be a list of '
                            'metafile paths')
    index = ModelIndex(root, imports)
    for rel in imports:
        if not osp.isfile(osp.join(root, rel)):
            index.missing.append(rel)
            continue
        text, meta = _read_yaml(osp.join(root, rel), rel)
        index.metafiles.append(
            Metafile(rel, text, _list_of_dicts(meta, 'Collections', rel),
                     _list_of_dicts(meta, 'Models', rel)))
    return index


def sha256_of(path: str) -> str:
    """The hex sha256 of a file, read in 16 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 24), b''):
            digest.update(chunk)
    return digest.hexdigest()


def published_name(stem: str, date: str, sha256: str) -> str:
    """``{stem}_{YYYYMMDD}-{sha256[:8]}.pth``, the name of a published
    checkpoint."""
    datetime.datetime.strptime(date, '%Y%m%d')  # ValueError if not a date
    return f'{stem}_{date}-{sha256[:8]}.pth'


def parse_weights(name: str, stems: set) -> Optional[Tuple[str, str]]:
    """``(stem, sha256 prefix)`` of a published name, ``(stem, '')`` of an
    unpublished one; None when ``name`` is neither form for a stem of
    ``stems``."""
    match = _PUBLISHED.match(name)
    if match and match.group(1) in stems:
        try:
            datetime.datetime.strptime(match.group(2), '%Y%m%d')
        except ValueError:
            return None
        return match.group(1), match.group(3)
    if name.endswith('.pth') and name[:-4] in stems:
        return name[:-4], ''
    return None


def is_demo_config(path: str) -> bool:
    """Whether a config name marks a demo (``tiny`` / ``synthetic``)."""
    stem = osp.splitext(osp.basename(path))[0]
    return bool(DEMO_TOKENS & set(re.split(r'[_-]', stem)))
