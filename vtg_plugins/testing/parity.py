"""Parity reports: our outputs against reference outputs of the official code.

Every ``projects/<name>/tools/check_parity.py`` builds one
:class:`ParityReport`, compares each output field of a fixture with ours and
ends with :meth:`ParityReport.emit`, which prints one JSON object
``{"<field>": max_abs_diff, ..., "ok": bool}`` and returns the exit status::

    report = ParityReport(atol=1e-4, rtol=1e-5)
    report.compare('fpn_feats', ours['fpn_feats'], ref['fpn_feats'])
    sys.exit(report.emit())

A field may be a tensor, an array, a number, None, or lists / tuples / dicts
of them nested at any depth. Structure is part of parity: lists must have the
same length, dicts the same keys, arrays the same shape (a reference with
fewer or more entries fails, reported as ``inf``). Values pass when
``|ours - ref| <= atol + rtol * |ref|`` elementwise (the ``torch.allclose``
rule); equal values (infinities of one sign included) pass, and NaN passes
only against NaN at the same place (``equal_nan``), so a NaN on one side
fails. Other leaves (strings) must be equal.
"""
import json
import math
import sys
from typing import (Any, Dict, Iterable, List, Optional, Sequence, TextIO,
                    Tuple)

import numpy as np

__all__ = ['ParityReport']

#: ``(place, what is wrong)``, place e.g. ``"[3]['scores']"``
Problems = List[Tuple[str, str]]


def _is_array(x: Any) -> bool:
    return hasattr(x, 'shape') and hasattr(x, 'dtype')


def _is_number(x: Any) -> bool:
    return isinstance(x, (bool, int, float, np.number, np.bool_))


def _as_float64(x: Any) -> np.ndarray:
    if hasattr(x, 'detach'):  # a torch.Tensor, without importing torch
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _leaf(ours: Any, ref: Any, atol: float, rtol: float,
          equal_nan: bool) -> Tuple[float, Optional[str]]:
    """Max abs difference of two numeric leaves, and what is wrong (None
    when every value is within tolerance)."""
    try:
        a, b = _as_float64(ours), _as_float64(ref)
    except (TypeError, ValueError) as e:
        return math.inf, f'not comparable as numbers ({e})'
    if a.shape != b.shape:
        return math.inf, (f'shape {tuple(a.shape)} vs reference '
                          f'{tuple(b.shape)}')
    if a.size == 0:
        return 0.0, None
    with np.errstate(invalid='ignore', over='ignore'):
        same = a == b
        if equal_nan:
            same |= np.isnan(a) & np.isnan(b)
        err = np.where(same, 0.0, np.abs(a - b))
        err[np.isnan(err)] = math.inf  # a NaN against a number
        bad = ~same & ~(err <= atol + rtol * np.abs(b))
    worst = float(err.max())
    if not bad.any():
        return worst, None
    at = tuple(int(i) for i in np.argwhere(bad)[0])
    return worst, (f'{int(bad.sum())} of {a.size} values outside tolerance, '
                   f'first at {at}: {float(a[at])!r} vs reference '
                   f'{float(b[at])!r}')


def _walk(ours: Any, ref: Any, path: str, atol: float, rtol: float,
          equal_nan: bool, problems: Problems) -> float:
    """Max abs difference of nested structures (``inf`` where they differ);
    appends to ``problems`` for every failing place."""

    def fail(msg: str) -> float:
        problems.append((path, msg))
        return math.inf

    def leaf() -> float:
        worst, problem = _leaf(ours, ref, atol, rtol, equal_nan)
        if problem is not None:
            fail(problem)
        return worst

    if ours is None or ref is None:
        if ours is None and ref is None:
            return 0.0
        return fail(f'{type(ours).__name__} vs reference '
                    f'{type(ref).__name__}')
    if isinstance(ref, dict) or isinstance(ours, dict):
        if not (isinstance(ref, dict) and isinstance(ours, dict)):
            return fail(f'{type(ours).__name__} vs reference '
                        f'{type(ref).__name__}')
        worst = 0.0
        missing = [k for k in ref if k not in ours]
        extra = [k for k in ours if k not in ref]
        if missing or extra:
            worst = fail(f'keys differ: ours lacks {missing}, the reference '
                         f'lacks {extra}')
        for key in ref:
            if key in ours:
                worst = max(
                    worst,
                    _walk(ours[key], ref[key], f'{path}[{key!r}]', atol, rtol,
                          equal_nan, problems))
        return worst
    if isinstance(ref, (list, tuple)) or isinstance(ours, (list, tuple)):
        if _is_array(ours) or _is_array(ref):
            return leaf()  # a tensor against a list of numbers
        if not (isinstance(ref, (list, tuple))
                and isinstance(ours, (list, tuple))):
            return fail(f'{type(ours).__name__} vs reference '
                        f'{type(ref).__name__}')
        worst = 0.0
        if len(ours) != len(ref):
            worst = fail(f'{len(ours)} entries vs {len(ref)} in the '
                         'reference')
        for i, (o_item, r_item) in enumerate(zip(ours, ref)):
            worst = max(
                worst,
                _walk(o_item, r_item, f'{path}[{i}]', atol, rtol, equal_nan,
                      problems))
        return worst
    if _is_array(ours) or _is_array(ref) or (_is_number(ours)
                                             and _is_number(ref)):
        return leaf()
    if ours == ref:
        return 0.0
    return fail(f'{ours!r} vs reference {ref!r}')


class ParityReport:
    """Field-by-field comparison of our outputs with a reference.

    Args:
        atol (float): absolute tolerance.
        rtol (float): tolerance relative to ``|ref|``. Default 0.
        equal_nan (bool): NaN equals NaN at the same place. Default True.

    Attributes:
        fields (dict[str, float]): field -> max abs difference (``inf`` on a
            structure mismatch), in the order compared.
        problems (dict[str, list[str]]): failing field -> what differs and
            where, e.g. ``"fpn_feats: 4 entries vs 7 in the reference"``.
    """

    def __init__(self,
                 atol: float,
                 rtol: float = 0.0,
                 equal_nan: bool = True) -> None:
        self.atol, self.rtol, self.equal_nan = atol, rtol, equal_nan
        self.fields: Dict[str, float] = {}
        self.problems: Dict[str, List[str]] = {}

    def compare(self, field: str, ours: Any, ref: Any) -> float:
        """Compare one field (see the module doc); returns its max abs
        difference. A field compared twice keeps the worse result."""
        problems: Problems = []
        worst = _walk(ours, ref, '', self.atol, self.rtol, self.equal_nan,
                      problems)
        self.fields[field] = max(worst, self.fields.get(field, 0.0))
        if problems:
            self.problems.setdefault(field, []).extend(
                f'{field}{place}: {msg}' for place, msg in problems)
        return worst

    def fail(self, field: str, why: str) -> None:
        """Record a failed check that is not a value comparison (e.g. a
        reference field the checker does not know); reported as ``inf``."""
        self.fields[field] = math.inf
        self.problems.setdefault(field, []).append(f'{field}: {why}')

    def check_fields(self,
                     prefix: str,
                     found: Iterable[str],
                     required: Sequence[str],
                     optional: Sequence[str] = ()) -> bool:
        """Fail each field of ``found`` this checker does not know and each
        ``required`` one that is missing (``prefix.name``); returns whether
        every required field is there."""
        found = list(found)
        for name in found:
            if name not in required and name not in optional:
                self.fail(f'{prefix}.{name}', 'a fixture output this checker '
                          'does not compare')
        missing = [name for name in required if name not in found]
        for name in missing:
            self.fail(f'{prefix}.{name}', 'missing from the fixture')
        return not missing

    @property
    def failed(self) -> List[str]:
        """The failing fields, in the order compared."""
        return [f for f in self.fields if f in self.problems]

    @property
    def ok(self) -> bool:
        """Whether every field passed."""
        return not self.problems

    def __getitem__(self, field: str) -> float:
        return self.fields[field]

    def __contains__(self, field: object) -> bool:
        return field in self.fields

    def to_dict(self) -> Dict[str, Any]:
        """``{"<field>": max_abs_diff, ..., "ok": bool}``."""
        return {**self.fields, 'ok': self.ok}

    def emit(self,
             out: Optional[TextIO] = None,
             err: Optional[TextIO] = None) -> int:
        """Print the JSON report on ``out`` (default stdout) and, when a
        field fails, what differs on ``err`` (default stderr).

        Returns:
            int: the exit status: 0 when every field passed, else 1.
        """
        out = sys.stdout if out is None else out
        err = sys.stderr if err is None else err
        if self.problems:
            print(f'parity failed (atol={self.atol}, rtol={self.rtol}): '
                  f'{self.failed}', file=err)
            for field in self.failed:
                for msg in self.problems[field][:5]:
                    print(f'  {msg}', file=err)
        print(json.dumps(self.to_dict()), file=out)
        return 0 if self.ok else 1
