"""The metadata filter language shared by every backend (``search(where=...)``, ``list(where=...)``).

A filter is a dict ``{key: condition}``; all conditions must hold (AND). A condition is either a
plain scalar (equality) or a one-operator dict::

    {"source": "train"}                      # equality
    {"difficulty": {"$gte": 3}}              # $eq $ne, and $gt $gte $lt $lte on numbers
    {"split": {"$in": ["train", "dev"]}}     # $in / $nin with a list of scalars

Keys name ``MemoryRecord.metadata`` keys. Backends translate :func:`parse_where`'s output to
their native filters; :func:`matches` evaluates it in Python (in-memory backend, adapters).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from agentforge.core.errors import UserError

OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin")
_SCALARS = (str, bool, int, float)


class Condition(NamedTuple):
    """One parsed filter condition: ``metadata[key] <op> value``."""

    key: str
    op: str
    value: Any


def parse_where(where: Mapping[str, Any] | None) -> list[Condition]:
    """Validate a filter dict and return its conditions (empty for None or ``{}``).

    Raises:
        UserError: for a non-string key, an unknown operator, more than one operator in a
            condition, a non-scalar value, or ``$in``/``$nin`` without a list of scalars.
    """
    if not where:
        return []
    if not isinstance(where, Mapping):
        raise UserError(f"where must be a dict of metadata key -> condition, got {type(where).__name__}")
    conditions: list[Condition] = []
    for key, cond in where.items():
        if not isinstance(key, str) or not key:
            raise UserError(f"where keys must be non-empty strings, got {key!r}")
        if isinstance(cond, Mapping):
            if len(cond) != 1:
                raise UserError(f"where[{key!r}] must hold exactly one operator, got {dict(cond)!r}")
            op, value = next(iter(cond.items()))
            if op not in OPERATORS:
                raise UserError(f"where[{key!r}]: unknown operator {op!r}; valid: {', '.join(OPERATORS)}")
        else:
            op, value = "$eq", cond
        if op in ("$in", "$nin"):
            if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, _SCALARS) for v in value):
                raise UserError(f"where[{key!r}]: {op} needs a non-empty list of str/int/float/bool")
            value = list(value)
        elif op in ("$gt", "$gte", "$lt", "$lte"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UserError(f"where[{key!r}]: {op} needs an int or float, got {value!r}")
        elif not isinstance(value, _SCALARS):
            raise UserError(f"where[{key!r}]: value must be str, int, float or bool, got {type(value).__name__}")
        conditions.append(Condition(key, op, value))
    return conditions


def _same_type(a: Any, b: Any) -> bool:
    # bool is an int subclass in Python; keep True != 1 as Chroma and Qdrant do.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str)
    return isinstance(a, (int, float)) and isinstance(b, (int, float))


def _check(actual: Any, op: str, value: Any) -> bool:
    if op == "$in":
        return any(_same_type(actual, v) and actual == v for v in value)
    if op == "$nin":
        return not any(_same_type(actual, v) and actual == v for v in value)
    if op == "$ne":
        return not (_same_type(actual, value) and actual == value)
    if not _same_type(actual, value):
        return False
    if op == "$eq":
        return actual == value
    try:
        if op == "$gt":
            return actual > value
        if op == "$gte":
            return actual >= value
        if op == "$lt":
            return actual < value
        return actual <= value
    except TypeError:
        return False


def matches(metadata: Mapping[str, Any], conditions: list[Condition]) -> bool:
    """True when ``metadata`` satisfies every condition.

    A missing key fails every operator except ``$ne`` and ``$nin`` (which it satisfies), as in
    Chroma and Qdrant. ``True`` never equals ``1``.
    """
    for key, op, value in conditions:
        if key not in metadata:
            if op in ("$ne", "$nin"):
                continue
            return False
        actual = metadata[key]
        if isinstance(actual, (list, dict)) or not _check(actual, op, value):
            return False
    return True
