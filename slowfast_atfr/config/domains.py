"""Kinds of allowed values for config keys (`Int`, `Real`, `OneOf`, `ListOf`, ...).

A kind says what it allows (`describe`) and finds the offending part of a value
(`offender`); config/checks.py gives every key its kind.
"""

import math
import numbers
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Optional, Tuple


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _interval(low: Optional[float], high: Optional[float], ends: str) -> str:
    """The interval in words (' in [0, 1)', ' >= 1', ...); `ends` is "[]", "[)", "(]" or "()"."""
    if low is not None and high is not None:
        return f" in {ends[0]}{low}, {high}{ends[1]}"
    if low is not None:
        return f" {'>=' if ends[0] == '[' else '>'} {low}"
    if high is not None:
        return f" {'<=' if ends[1] == ']' else '<'} {high}"
    return ""


def _inside(value: float, low: Optional[float], high: Optional[float], ends: str) -> bool:
    above = low is None or value > low or (value == low and ends[0] == "[")
    below = high is None or value < high or (value == high and ends[1] == "]")
    return above and below


class Domain(ABC):
    """The values a config key may take."""

    @abstractmethod
    def describe(self) -> str:
        """The domain in words, completing "must be ..."."""

    @abstractmethod
    def offender(self, value: Any) -> Optional[Tuple[str, Any]]:
        """None when `value` is inside; else (index path, the part at fault), where the path
        is "" when the value as a whole is at fault and e.g. "[1][0]" inside nested lists."""

    def problem(self, key: str, value: Any) -> Optional[str]:
        """The error line for `key`=`value`, or None when the value is inside."""
        found = self.offender(value)
        if found is None:
            return None
        path, part = found
        detail = f"; {key}{path} is {part!r}" if path else ""
        return f"{key}={value!r} must be {self.describe()}{detail}."


@dataclass(frozen=True)
class Int(Domain):
    """An int (a bool is not one) in [low, high], or `sentinel` = (value, its meaning)."""

    low: Optional[int] = None
    high: Optional[int] = None
    sentinel: Optional[Tuple[int, str]] = None

    def describe(self) -> str:
        extra = f" or {self.sentinel[0]} ({self.sentinel[1]})" if self.sentinel else ""
        return "an int" + _interval(self.low, self.high, "[]") + extra

    def offender(self, value: Any) -> Optional[Tuple[str, Any]]:
        ok = _is_int(value) and (_inside(value, self.low, self.high, "[]")
                                 or (self.sentinel is not None and value == self.sentinel[0]))
        return None if ok else ("", value)


@dataclass(frozen=True)
class Real(Domain):
    """An int or float, neither NaN nor infinite nor a bool, between `low` and `high`; `ends`
    closes ("[", "]") or opens ("(", ")") each end."""

    low: Optional[float] = None
    high: Optional[float] = None
    ends: str = "[]"

    def describe(self) -> str:
        return "a finite number" + _interval(self.low, self.high, self.ends)

    def offender(self, value: Any) -> Optional[Tuple[str, Any]]:
        ok = _is_finite(value) and _inside(value, self.low, self.high, self.ends)
        return None if ok else ("", value)


@dataclass(frozen=True)
class Text(Domain):
    """A non-empty string."""

    def describe(self) -> str:
        return "a non-empty string"

    def offender(self, value: Any) -> Optional[Tuple[str, Any]]:
        return None if isinstance(value, str) and value else ("", value)


@dataclass(frozen=True)
class OneOf(Domain):
    """One of `values`, of the same type (1.0 is not 1, True is not 1)."""

    values: Tuple[Any, ...]

    def describe(self) -> str:
        return f"one of {list(self.values)}"

    def offender(self, value: Any) -> Optional[Tuple[str, Any]]:
        ok = any(type(value) is type(v) and value == v for v in self.values)
        return None if ok else ("", value)


@dataclass(frozen=True)
class ListOf(Domain):
    """A list (or tuple) of values each in `item`, with `length` = (min, max) values (max
    None: no limit), in non-decreasing order when `ascending`."""

    item: Domain
    length: Tuple[int, Optional[int]] = (0, None)
    ascending: bool = False

    def describe(self) -> str:
        low, high = self.length
        if low == high:
            count = f"{low} values"
        elif high is None:
            count = f"{low} or more values" if low else "values"
        else:
            count = f"{low} to {high} values"
        order = " in ascending order" if self.ascending else ""
        return f"a list of {count}{order}, each {self.item.describe()}"

    def offender(self, value: Any) -> Optional[Tuple[str, Any]]:
        low, high = self.length
        if not isinstance(value, (list, tuple)) or len(value) < low or (
            high is not None and len(value) > high
        ):
            return "", value
        for i, element in enumerate(value):
            found = self.item.offender(element)
            if found is not None:
                return f"[{i}]{found[0]}", found[1]
        if self.ascending and any(a > b for a, b in zip(value, value[1:])):
            return "", value
        return None


@dataclass(frozen=True)
class Only(Domain):
    """A PySlowFast key without effect here: only `value` is accepted, so that another value
    is refused instead of silently ignored."""

    value: Any
    why: str

    def describe(self) -> str:
        return repr(self.value)

    def offender(self, value: Any) -> Optional[Tuple[str, Any]]:
        return None if value == self.value else ("", value)

    def problem(self, key: str, value: Any) -> Optional[str]:
        if self.offender(value) is None:
            return None
        return f"{key}={value!r} is not supported: {self.why}. Leave it at {self.value!r}."


@dataclass(frozen=True)
class Free(Domain):
    """Any value, declared with the reason, so that a key is never left out by oversight."""

    why: str

    def describe(self) -> str:
        return f"anything ({self.why})"

    def offender(self, value: Any) -> Optional[Tuple[str, Any]]:
        return None


COUNT = Int(low=0)
POSITIVE_INT = Int(low=1)
NON_NEGATIVE = Real(low=0)
POSITIVE = Real(low=0, ends="(]")
DROP_RATE = Real(0, 1, "[)")
SHRINK_FACTOR = Real(0, 1, "(]")
