"""A safe arithmetic evaluator: the "calculator" tool of the method doc (§1.1).

Only numbers, ``+ - * / // % **``, unary ``+``/``-``, parentheses, a fixed set of ``math`` functions
and the constants ``pi``, ``e``, ``tau`` are accepted (``math.sqrt``/``math.pi`` spellings too).
Work is bounded: the expression length is limited, integer results may not exceed ``MAX_INT_BITS``
bits (powers are checked *before* they are computed) and ``factorial`` is limited to ``n <= 1000``.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_EXPRESSION_CHARS", "MAX_INT_BITS", "CalculatorError", "evaluate"]

MAX_EXPRESSION_CHARS = 1000
MAX_INT_BITS = 10_000  # ~3000 decimal digits, below Python's int-to-str limit (4300 digits)
MAX_FACTORIAL = 1000
MAX_COMBINATORIC_N = 10_000

Number = int | float


class CalculatorError(ValueError):
    """The expression is not allowed, malformed, or has no finite real result."""


def _as_int(value: Number, what: str) -> int:
    if isinstance(value, int):
        return value
    if value.is_integer():
        return int(value)
    raise CalculatorError(f"{what} needs an integer, got {value!r}")


def _factorial(n: Number) -> int:
    k = _as_int(n, "factorial")
    if k < 0:
        raise CalculatorError("factorial is not defined for negative numbers")
    if k > MAX_FACTORIAL:
        raise CalculatorError(f"factorial is limited to n <= {MAX_FACTORIAL}")
    return math.factorial(k)


def _round(x: Number, ndigits: Number | None = None) -> Number:
    if ndigits is None:
        return round(x)
    digits = _as_int(ndigits, "round's ndigits")
    if abs(digits) > 400:
        raise CalculatorError("round's ndigits must be within [-400, 400]")
    return round(x, digits)


def _log(x: Number, base: Number | None = None) -> float:
    return math.log(x) if base is None else math.log(x, base)


def _pow(base: Number, exponent: Number, modulus: Number | None = None) -> Number:
    if modulus is None:
        return _power(base, exponent)
    if not all(isinstance(v, int) for v in (base, exponent, modulus)):
        raise CalculatorError("pow with a modulus needs integers")
    if modulus == 0:
        raise CalculatorError("pow() modulus cannot be zero")
    return pow(int(base), int(exponent), int(modulus))


def _combinatoric(func: Callable[..., int], name: str) -> Callable[..., int]:
    def bounded(*args: Number) -> int:
        values = [_as_int(a, name) for a in args]
        if any(abs(v) > MAX_COMBINATORIC_N for v in values):
            raise CalculatorError(f"{name} is limited to arguments <= {MAX_COMBINATORIC_N}")
        return func(*values)

    return bounded


def _min(*args: Number) -> Number:
    if not args:
        raise CalculatorError("min needs at least one argument")
    return min(args)


def _max(*args: Number) -> Number:
    if not args:
        raise CalculatorError("max needs at least one argument")
    return max(args)


# name -> (function, minimum arguments, maximum arguments)
_FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int]] = {
    "sqrt": (math.sqrt, 1, 1),
    "log": (_log, 1, 2),
    "ln": (math.log, 1, 1),
    "log10": (math.log10, 1, 1),
    "log2": (math.log2, 1, 1),
    "exp": (math.exp, 1, 1),
    "sin": (math.sin, 1, 1),
    "cos": (math.cos, 1, 1),
    "tan": (math.tan, 1, 1),
    "asin": (math.asin, 1, 1),
    "acos": (math.acos, 1, 1),
    "atan": (math.atan, 1, 1),
    "atan2": (math.atan2, 2, 2),
    "sinh": (math.sinh, 1, 1),
    "cosh": (math.cosh, 1, 1),
    "tanh": (math.tanh, 1, 1),
    "degrees": (math.degrees, 1, 1),
    "radians": (math.radians, 1, 1),
    "hypot": (math.hypot, 1, 16),
    "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1),
    "trunc": (math.trunc, 1, 1),
    "factorial": (_factorial, 1, 1),
    "fabs": (math.fabs, 1, 1),
    "abs": (abs, 1, 1),
    "round": (_round, 1, 2),
    "min": (_min, 1, 64),
    "max": (_max, 1, 64),
    "pow": (_pow, 2, 3),
    "gcd": (math.gcd, 0, 64),
    "lcm": (math.lcm, 0, 64),
    "comb": (_combinatoric(math.comb, "comb"), 2, 2),
    "perm": (_combinatoric(math.perm, "perm"), 1, 2),
}

_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}

_MAX_DEPTH = 600


def _check(value: object) -> Number:
    """Validate an intermediate or final value: a finite real number with a bounded size."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CalculatorError(f"the result is not a real number: {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculatorError("the result is not finite (overflow or undefined)")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise CalculatorError(f"the result is too large (more than {MAX_INT_BITS} bits)")
    return value


def _power(base: Number, exponent: Number) -> Number:
    if isinstance(base, int) and isinstance(exponent, int):
        if exponent >= 0 and abs(base) > 1:
            # |base ** exponent| >= 2 ** ((bit_length - 1) * exponent): reject before computing.
            if (abs(base).bit_length() - 1) * exponent > MAX_INT_BITS:
                raise CalculatorError(f"the result is too large (more than {MAX_INT_BITS} bits)")
        elif exponent < 0 and base == 0:
            raise CalculatorError("division by zero: 0 cannot be raised to a negative power")
    elif isinstance(base, float | int) and isinstance(exponent, float | int):
        if base == 0 and exponent < 0:
            raise CalculatorError("division by zero: 0 cannot be raised to a negative power")
        if base < 0 and not float(exponent).is_integer():
            raise CalculatorError("a negative number cannot be raised to a fractional power")
        if abs(base) > 1 and abs(exponent) > 1 and math.log2(abs(base)) * abs(exponent) > 1100:
            if exponent > 0:
                raise CalculatorError("the result is too large (float overflow)")
            return 0.0
    try:
        result = base**exponent
    except OverflowError as exc:
        raise CalculatorError("the result is too large (float overflow)") from exc
    except ZeroDivisionError as exc:
        raise CalculatorError("division by zero") from exc
    return _check(result)


def _is_math_attribute(node: ast.Attribute) -> bool:
    return isinstance(node.value, ast.Name) and node.value.id == "math"


def _function_name(func: ast.expr) -> str | None:
    """``sqrt`` for ``sqrt(...)`` and ``math.sqrt(...)``; None for any other callee."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and _is_math_attribute(func):
        return func.attr
    return None


def _evaluate(node: ast.AST, depth: int = 0) -> Number:
    if depth > _MAX_DEPTH:
        raise CalculatorError("the expression is nested too deeply")
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, depth + 1)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise CalculatorError(f"only numbers are allowed, not {node.value!r}")
        return _check(node.value)
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, depth + 1)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return +operand
        raise CalculatorError(f"operator {type(node.op).__name__} is not allowed")
    if isinstance(node, ast.BinOp):
        left = _evaluate(node.left, depth + 1)
        right = _evaluate(node.right, depth + 1)
        if isinstance(node.op, ast.Pow):
            return _power(left, right)
        if isinstance(node.op, ast.BitXor):
            raise CalculatorError("'^' is not a power operator here; use '**'")
        func = _BINARY.get(type(node.op))
        if func is None:
            raise CalculatorError(f"operator {type(node.op).__name__} is not allowed")
        try:
            return _check(func(left, right))
        except ZeroDivisionError as exc:
            raise CalculatorError("division by zero") from exc
        except OverflowError as exc:
            raise CalculatorError("the result is too large (float overflow)") from exc
    if isinstance(node, ast.Attribute) and _is_math_attribute(node) and node.attr in _CONSTANTS:
        return _CONSTANTS[node.attr]
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if node.id in _FUNCTIONS:
            raise CalculatorError(f"{node.id} is a function; call it like {node.id}(x)")
        raise CalculatorError(f"unknown name {node.id!r}; allowed constants: {', '.join(sorted(_CONSTANTS))}")
    if isinstance(node, ast.Call):
        name = _function_name(node.func)
        if name is None or name not in _FUNCTIONS:
            shown = name if name is not None else ast.unparse(node.func)[:40]
            raise CalculatorError(f"function {shown!r} is not allowed; allowed: {', '.join(sorted(_FUNCTIONS))}")
        if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
            raise CalculatorError("only positional arguments are allowed")
        func, low, high = _FUNCTIONS[name]
        if not low <= len(node.args) <= high:
            raise CalculatorError(f"{name} takes {low}..{high} arguments, got {len(node.args)}")
        args = [_evaluate(arg, depth + 1) for arg in node.args]
        try:
            return _check(func(*args))
        except CalculatorError:
            raise
        except ZeroDivisionError as exc:
            raise CalculatorError("division by zero") from exc
        except OverflowError as exc:
            raise CalculatorError(f"{name}: the result is too large") from exc
        except (ValueError, TypeError) as exc:
            raise CalculatorError(f"{name}: {exc}") from exc
    if isinstance(node, ast.Attribute):
        raise CalculatorError("attribute access is not allowed")
    raise CalculatorError(f"{type(node).__name__} is not allowed in a calculator expression")


def evaluate(expression: str) -> int | float:
    """Evaluate an arithmetic expression; raise `CalculatorError` when it is not allowed or fails."""
    if not isinstance(expression, str):
        raise CalculatorError("the expression must be a string")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    text = expression.strip()
    if not text:
        raise CalculatorError("the expression is empty")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError) as exc:
        raise CalculatorError(f"invalid expression: {getattr(exc, 'msg', exc)}") from exc
    except (RecursionError, MemoryError) as exc:
        raise CalculatorError("the expression is nested too deeply") from exc
    try:
        return _evaluate(tree)
    except RecursionError as exc:
        raise CalculatorError("the expression is nested too deeply") from exc
