"""Typed field readers for the model spec's JSON; errors name the field."""

from __future__ import annotations

from typing import Any

from .errors import ModelError

_MISSING: Any = object()


def path(where: str, key: str) -> str:
    """``"layers[2].kernel_size"``; top-level fields (``where == "spec"``) are bare."""
    return key if where in ("", "spec") else f"{where}.{key}"


def fail(field: str, problem: str) -> ModelError:
    return ModelError("<spec>", f"{field}: {problem}")


def check_keys(d: Any, cls: type, where: str, extra: tuple[str, ...] = ()) -> None:
    """``d`` is a dict whose keys are fields of dataclass ``cls`` (or ``extra``)."""
    if not isinstance(d, dict):
        raise fail(where, f"expected a JSON object, got {d!r}")
    known = set(cls.__dataclass_fields__) | set(extra)
    unknown = sorted(set(d) - known)
    if unknown:
        raise fail(path(where, unknown[0]), f"unknown field; known: {', '.join(sorted(known))}")


def _get(d: dict, key: str, where: str, default: Any) -> Any:
    if key in d:
        return d[key]
    if default is _MISSING:
        raise fail(path(where, key), "missing")
    return default


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def integer(d: dict, key: str, where: str, minimum: int | None = None,
            default: Any = _MISSING) -> int:
    v = _get(d, key, where, default)
    if not _is_int(v):
        raise fail(path(where, key), f"expected an int, got {v!r}")
    if minimum is not None and v < minimum:
        raise fail(path(where, key), f"expected an int >= {minimum}, got {v}")
    return v


def ints(d: dict, key: str, n: int, where: str, minimum: int | None = None,
         default: Any = _MISSING) -> tuple[int, ...]:
    """A list of ``n`` ints (a single int is accepted for a pair: ``3`` -> ``(3, 3)``)."""
    v = _get(d, key, where, default)
    if n == 2 and _is_int(v):
        v = [v, v]
    if not isinstance(v, list | tuple) or len(v) != n or not all(_is_int(x) for x in v):
        raise fail(path(where, key), f"expected {n} ints, got {_show(v)}")
    if minimum is not None and any(x < minimum for x in v):
        raise fail(path(where, key), f"expected ints >= {minimum}, got {_show(v)}")
    return tuple(v)


def number(d: dict, key: str, where: str, minimum: float | None = None,
           default: Any = _MISSING) -> float:
    v = _get(d, key, where, default)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise fail(path(where, key), f"expected a number, got {v!r}")
    if minimum is not None and v < minimum:
        raise fail(path(where, key), f"expected a number >= {minimum}, got {v}")
    return float(v)


def boolean(d: dict, key: str, where: str, default: Any = _MISSING) -> bool:
    v = _get(d, key, where, default)
    if not isinstance(v, bool):
        raise fail(path(where, key), f"expected true or false, got {v!r}")
    return v


def choice(d: dict, key: str, options: tuple[str, ...], where: str,
           default: Any = _MISSING) -> str:
    v = _get(d, key, where, default)
    if v not in options:
        raise fail(path(where, key), f"expected one of {', '.join(options)}; got {v!r}")
    return v


def _show(v: Any) -> str:
    return str(list(v)) if isinstance(v, tuple) else repr(v)
