"""Class groups of TSTL's two stages: which expert owns which class.

TSTL's ``class_grouping.json`` holds five keys: ``class_to_head`` (class id ->
group id, the one the official code reads), ``head_to_classes`` (group id ->
class ids), ``head_to_local`` (group id -> class id -> position in the
group), ``num_heads`` and ``num_classes``. JSON keys are strings (``"12"``).
:func:`load_class_grouping` reads and checks that file; :class:`ClassGrouping`
answers ``group_of(label)`` / ``classes_of(group)`` and writes the layout back
(:meth:`ClassGrouping.to_json`). :func:`group_by_confusion` builds a grouping
from a confusion matrix (``projects/tstl/tools/build_grouping.py``).

Departure from the official code: a class the mapping does not hold is an
error here; the official ``class_to_head.get(label, 0)`` sends it to group 0
without a word.
"""
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from vtg_plugins.utils.io import atomic_write_json

PathLike = Union[str, os.PathLike]


def is_integer(value: Any) -> bool:
    """Whether ``value`` is a Python or numpy integer (not a bool)."""
    return isinstance(
        value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _as_id(value: Any, what: str) -> int:
    """A non-negative integer id from an int or an int-like JSON key."""
    if isinstance(value, str) and value.strip().lstrip('-').isdigit():
        value = int(value)
    if not is_integer(value):
        raise ValueError(f'{what}: {value!r} is not an integer id')
    if value < 0:
        raise ValueError(f'{what}: {value} is negative')
    return int(value)


@dataclass(frozen=True)
class ClassGrouping:
    """A partition of the class ids ``0..num_classes-1`` into groups.

    Args:
        groups: ``groups[g]`` the class ids of group ``g`` in their order
            inside the group (the official ``head_to_local`` positions).
        source: where it came from (a file path), named in every error.
    """
    groups: Tuple[Tuple[int, ...], ...]
    source: str = '<memory>'
    _class_to_group: Dict[int, int] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        groups = tuple(tuple(int(c) for c in g) for g in self.groups)
        object.__setattr__(self, 'groups', groups)
        if not groups:
            raise ValueError(f'{self.source}: the grouping has no group')
        mapping: Dict[int, int] = {}
        for g, classes in enumerate(groups):
            if not classes:
                raise ValueError(f'{self.source}: group {g} has no class')
            for c in classes:
                if c < 0:
                    raise ValueError(
                        f'{self.source}: group {g}: class {c} is negative')
                if c in mapping:
                    raise ValueError(
                        f'{self.source}: class {c} is in group {mapping[c]} '
                        f'and in group {g}; every class must be in exactly '
                        'one group')
                mapping[c] = g
        missing = sorted(set(range(len(mapping))) - set(mapping))
        if missing:
            raise ValueError(
                f'{self.source}: the classes are not 0..{len(mapping) - 1}: '
                f'class {missing[0]} is in no group (missing: '
                f'{_short(missing)})')
        object.__setattr__(self, '_class_to_group', mapping)

    @property
    def num_groups(self) -> int:
        return len(self.groups)

    @property
    def num_classes(self) -> int:
        return len(self._class_to_group)

    def group_of(self, label: Any) -> int:
        """The group id of class ``label`` (an int, numpy or 0-d tensor)."""
        try:
            key = int(label)
        except (TypeError, ValueError):
            raise ValueError(f'{self.source}: class label {label!r} is not '
                             'an integer') from None
        group = self._class_to_group.get(key)
        if group is None:
            raise ValueError(
                f'{self.source}: class {key} is not in the class grouping '
                f'(classes 0..{self.num_classes - 1}); the official code '
                'would silently send it to group 0')
        return group

    def classes_of(self, group: int) -> Tuple[int, ...]:
        """The class ids of ``group``, in their order inside the group."""
        if not 0 <= int(group) < self.num_groups:
            raise ValueError(f'{self.source}: group {group} does not exist '
                             f'(groups 0..{self.num_groups - 1})')
        return self.groups[int(group)]

    def to_json(self) -> dict:
        """The official ``class_grouping.json`` layout (string keys)."""
        return dict(
            class_to_head={
                str(c): self._class_to_group[c]
                for c in sorted(self._class_to_group)
            },
            head_to_classes={
                str(g): list(classes)
                for g, classes in enumerate(self.groups)
            },
            head_to_local={
                str(g): {
                    str(c): j
                    for j, c in enumerate(classes)
                }
                for g, classes in enumerate(self.groups)
            },
            num_heads=self.num_groups,
            num_classes=self.num_classes)

    def dump(self, path: PathLike) -> None:
        """Write :meth:`to_json` to ``path`` atomically."""
        atomic_write_json(path, self.to_json())


def _short(ids: Sequence[int], n: int = 10) -> str:
    text = ', '.join(str(i) for i in ids[:n])
    return text + (f', ... ({len(ids)} in all)' if len(ids) > n else '')


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding='utf-8') as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(
            f'class grouping file {path} does not exist') from None
    except json.JSONDecodeError as e:
        raise ValueError(f'{path}: line {e.lineno}: invalid JSON '
                         f'({e.msg})') from None
    except UnicodeDecodeError as e:
        raise ValueError(f'{path}: not UTF-8 text ({e})') from None
    if not isinstance(doc, dict):
        raise ValueError(f'{path}: expected a JSON object with the key '
                         f"'class_to_head', got {type(doc).__name__}")
    return doc


def _class_to_group(doc: dict, path: str) -> Dict[int, int]:
    raw = doc.get('class_to_head')
    if raw is None:
        raise ValueError(f"{path}: no 'class_to_head' key (keys: "
                         f'{sorted(doc)})')
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: 'class_to_head' must map class ids to "
                         f'group ids, got {type(raw).__name__}')
    mapping: Dict[int, int] = {}
    for key, value in raw.items():
        where = f'{path}: class_to_head[{key!r}]'
        cls = _as_id(key, f'{where} (class id)')
        if cls in mapping:
            raise ValueError(f'{where}: class {cls} appears twice')
        mapping[cls] = _as_id(value, f'{where} (group id)')
    if not mapping:
        raise ValueError(f"{path}: 'class_to_head' is empty")
    groups = set(mapping.values())
    missing = sorted(set(range(max(groups) + 1)) - groups)
    if missing:
        raise ValueError(f'{path}: group ids must be 0..{max(groups)} with '
                         f'no gap; no class is in group(s) {_short(missing)}')
    return mapping


def _check_num_classes(mapping: Mapping[int, int], doc: dict, path: str,
                       num_classes: Optional[int]) -> None:
    in_file = doc.get('num_classes')
    if in_file is not None:
        in_file = _as_id(in_file, f'{path}: num_classes')
        if num_classes is not None and in_file != num_classes:
            raise ValueError(f'{path}: num_classes is {in_file} but '
                             f'{num_classes} classes were expected')
    expected = num_classes if num_classes is not None else in_file
    if expected is None:
        return
    missing = sorted(set(range(expected)) - set(mapping))
    if missing:
        raise ValueError(
            f'{path}: class {missing[0]} of 0..{expected - 1} is not in '
            f"'class_to_head' (missing: {_short(missing)})")
    extra = sorted(c for c in mapping if c >= expected)
    if extra:
        raise ValueError(f'{path}: class {extra[0]} is outside '
                         f'0..{expected - 1} (num_classes={expected})')


def _groups_from_file(mapping: Mapping[int, int], doc: dict,
                      path: str) -> List[List[int]]:
    """Groups in the file's ``head_to_classes`` order, checked against
    ``class_to_head`` (and ``head_to_local``, ``num_heads``)."""
    num_groups = max(mapping.values()) + 1
    if 'num_heads' in doc and _as_id(doc['num_heads'],
                                     f'{path}: num_heads') != num_groups:
        raise ValueError(f"{path}: num_heads is {doc['num_heads']} but "
                         f"'class_to_head' uses {num_groups} groups")
    by_mapping = [
        sorted(c for c, g in mapping.items() if g == group)
        for group in range(num_groups)
    ]
    listed = doc.get('head_to_classes')
    if listed is None:
        return by_mapping
    if not isinstance(listed, dict):
        raise ValueError(f"{path}: 'head_to_classes' must be an object")
    listed = {
        _as_id(k, f'{path}: head_to_classes key {k!r}'): v
        for k, v in listed.items()
    }
    if sorted(listed) != list(range(num_groups)):
        raise ValueError(f"{path}: 'head_to_classes' has groups "
                         f"{_short(sorted(listed))}, 'class_to_head' has "
                         f'0..{num_groups - 1}')
    groups = []
    for g in range(num_groups):
        where = f'{path}: head_to_classes[{str(g)!r}]'
        if not isinstance(listed[g], list):
            raise ValueError(f'{where}: expected a list of class ids')
        classes = [_as_id(c, where) for c in listed[g]]
        if len(set(classes)) != len(classes):
            raise ValueError(f'{where}: a class is listed twice')
        if sorted(classes) != by_mapping[g]:
            odd = sorted(set(classes) ^ set(by_mapping[g]))
            raise ValueError(f"{where} disagrees with 'class_to_head' on "
                             f'class(es) {_short(odd)}')
        groups.append(classes)
    _check_local(doc.get('head_to_local'), groups, path)
    return groups


def _check_local(local: Any, groups: List[List[int]], path: str) -> None:
    if local is None:
        return
    if not isinstance(local, dict) or sorted(local) != sorted(
            str(g) for g in range(len(groups))):
        raise ValueError(f"{path}: 'head_to_local' must have one entry per "
                         f'group 0..{len(groups) - 1}')
    for g, classes in enumerate(groups):
        expected = {str(c): j for j, c in enumerate(classes)}
        if local[str(g)] != expected:
            raise ValueError(
                f"{path}: head_to_local['{g}'] is not the position of each "
                f"class in head_to_classes['{g}'] (expected {expected})")


def load_class_grouping(path: PathLike,
                        num_classes: Optional[int] = None) -> ClassGrouping:
    """Read and check TSTL's ``class_grouping.json``.

    Args:
        path: the JSON file; only ``class_to_head`` is required, the other
            four keys are checked against it when present.
        num_classes: when given (or when the file has ``num_classes``),
            every class of ``range(num_classes)`` must be mapped and no
            other.

    Raises:
        FileNotFoundError: no such file.
        ValueError: invalid JSON (with the line), no ``class_to_head``, a
            non-integer id, group ids that are not ``0..G-1``, keys that
            disagree with each other, a class of ``range(num_classes)``
            that is missing (naming it). Every message starts with the path.
    """
    path = os.fspath(path)
    doc = _read_json(path)
    mapping = _class_to_group(doc, path)
    _check_num_classes(mapping, doc, path, num_classes)
    return ClassGrouping(_groups_from_file(mapping, doc, path), source=path)


def group_by_confusion(confusion: np.ndarray,
                       num_groups: int,
                       max_size: Optional[int] = None,
                       source: str = '<confusion>') -> ClassGrouping:
    """Group classes that are confused with each other.

    Deterministic average-linkage agglomeration under a size cap:

    1. ``P`` = the confusion matrix with each row divided by its sum (rows
       are true classes, columns predictions; an all-zero row stays zero),
       ``S = (P + P.T) / 2`` with a zero diagonal: how often two classes are
       mistaken for each other, in either direction.
    2. Start from one group per class; repeatedly merge the two groups with
       the highest average ``S`` between their members (the mean over all
       cross pairs) among those whose merged size is at most ``max_size``
       (default ``ceil(C / num_groups)``, which keeps the groups as
       balanced as the official SSv2 grouping of 11-12 classes); ties go
       to the pair with the smallest class ids.
    3. When no pair fits under the cap and more than ``num_groups`` groups
       remain, the cap grows by one (the smallest growth that lets a merge
       happen), and merging goes on until ``num_groups`` groups remain.

    Groups are numbered by their smallest class id; classes inside a group
    are sorted.

    Args:
        confusion: ``[C, C]`` non-negative counts or rates.
        num_groups: ``G``, ``1 <= G <= C``.
        max_size: the initial size cap (``>= ceil(C / G)``).
    """
    conf = np.asarray(confusion, dtype=np.float64)
    if conf.ndim != 2 or conf.shape[0] != conf.shape[1]:
        raise ValueError(f'{source}: the confusion matrix must be [C, C], '
                         f'got shape {list(conf.shape)}')
    if not np.isfinite(conf).all() or (conf < 0).any():
        raise ValueError(f'{source}: the confusion matrix must be finite and '
                         'non-negative')
    num_classes = conf.shape[0]
    if not 1 <= num_groups <= num_classes:
        raise ValueError(f'{source}: num_groups must be in 1..{num_classes} '
                         f'(the number of classes), got {num_groups}')
    balanced = -(-num_classes // num_groups)
    cap = balanced if max_size is None else int(max_size)
    if cap < balanced:
        raise ValueError(f'{source}: max_size {cap} cannot hold '
                         f'{num_classes} classes in {num_groups} groups '
                         f'(needs >= {balanced})')
    rows = conf.sum(axis=1, keepdims=True)
    rates = np.divide(conf, rows, out=np.zeros_like(conf), where=rows > 0)
    link = (rates + rates.T) / 2  # summed S between clusters
    np.fill_diagonal(link, 0.0)
    members: List[List[int]] = [[c] for c in range(num_classes)]
    alive = np.ones(num_classes, dtype=bool)
    sizes = np.ones(num_classes, dtype=np.int64)
    while alive.sum() > num_groups:
        ids = np.flatnonzero(alive)
        pair_size = sizes[ids][:, None] + sizes[ids][None, :]
        avg = link[np.ix_(ids, ids)] / (
            sizes[ids][:, None] * sizes[ids][None, :])
        upper = np.triu(np.ones_like(pair_size, dtype=bool), k=1)
        fits = upper & (pair_size <= cap)
        if not fits.any():
            cap = int(pair_size[upper].min())
            continue
        # clusters are indexed by their smallest class, so argmax's first
        # (row-major) maximum is the tie-break on the smallest class ids
        best = np.argmax(np.where(fits, avg, -np.inf))
        a, b = ids[best // len(ids)], ids[best % len(ids)]
        link[a] += link[b]
        link[:, a] += link[:, b]
        link[a, a] = 0.0
        sizes[a] += sizes[b]
        alive[b] = False
        members[a].extend(members[b])
    groups = [sorted(members[i]) for i in np.flatnonzero(alive)]
    return ClassGrouping(tuple(tuple(g) for g in groups), source=source)
