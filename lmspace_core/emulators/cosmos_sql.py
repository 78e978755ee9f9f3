"""The subset of the Cosmos DB NoSQL query language that LMSpace uses, with Cosmos semantics, for the test emulator.

Supported: `SELECT [DISTINCT] [TOP n] [VALUE] <projection> FROM <alias> [WHERE] [ORDER BY ...] [OFFSET n LIMIT m]`,
parameters (`@name`, also for TOP/OFFSET/LIMIT), property paths (`c.a.b`, `c["a"]`), comparison and logical
operators with Cosmos' three-valued logic (comparing different types, or anything with an undefined value, is
undefined, and WHERE keeps only rows that are `true`), `IN`, arithmetic, array and object literals, the aggregates
COUNT/SUM/MIN/MAX/AVG, a few scalar functions and `VectorDistance` (cosine, dotproduct, euclidean; by default the
distance function of the container's vector embedding policy for that path). `ORDER BY VectorDistance(...)` sorts
the most similar first, as Cosmos does. Anything else (JOIN, GROUP BY, subqueries) is a `QueryError`, which the
server answers with 400 like Cosmos answers a syntax error.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class QueryError(ValueError):
    """The query is not valid (or uses something this emulator does not implement)."""


class _Undefined:
    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Any = _Undefined()

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)"
    r"|(?P<string>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<param>@[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>!=|<>|<=|>=|\?\?|\|\||[-+*/%=<>(),.\[\]{}:?]))"
)
_KEYWORDS = {
    "select", "distinct", "top", "value", "as", "from", "where", "order", "by", "asc", "desc", "offset", "limit",
    "and", "or", "not", "in", "between", "true", "false", "null", "undefined", "join", "group",
}
_AGGREGATES = {"count", "sum", "min", "max", "avg"}
_TYPE_ORDER = {"undefined": 0, "null": 1, "boolean": 2, "number": 3, "string": 4, "array": 5, "object": 6}


def json_type(value: Any) -> str:
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _same(a: Any, b: Any) -> bool:
    """Cosmos equality: same JSON type and value (so `1 = true` is not true), deep for arrays and objects."""
    if json_type(a) != json_type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    return a == b


def sort_key(value: Any) -> tuple:
    """Mixed-type ORDER BY: undefined, null, booleans, numbers, strings, arrays, objects, each in its own order."""
    kind = json_type(value)
    if kind in ("undefined", "null"):
        return (_TYPE_ORDER[kind], 0)
    if kind in ("array", "object"):
        return (_TYPE_ORDER[kind], json.dumps(value, sort_keys=True))
    return (_TYPE_ORDER[kind], value)


# -- expressions ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What an expression is evaluated against: the row, the parameters and the container's vector policy."""

    alias: str
    row: Any
    params: Mapping[str, Any]
    distance_functions: Mapping[str, str]  # "/embedding" -> "cosine"
    vectors: Callable[[list], np.ndarray]
    # VectorDistance calls already computed for every row at once: id(call) -> id(row) -> score (see `execute`).
    scores: Mapping[int, Mapping[int, Any]] = field(default_factory=dict)


class Expr:
    def eval(self, ctx: Context) -> Any:
        raise NotImplementedError

    def has_aggregate(self) -> bool:
        return False


@dataclass(frozen=True)
class Literal(Expr):
    value: Any

    def eval(self, ctx: Context) -> Any:
        return self.value


@dataclass(frozen=True)
class Param(Expr):
    name: str

    def eval(self, ctx: Context) -> Any:
        if self.name not in ctx.params:
            raise QueryError(f"Parameter '{self.name}' is not defined.")
        return ctx.params[self.name]


@dataclass(frozen=True)
class Path(Expr):
    """`alias.a.b` or `alias["a"][0]`; `steps` are property names and indexes after the alias."""

    root: str
    steps: tuple[Expr, ...]

    def eval(self, ctx: Context) -> Any:
        if self.root != ctx.alias:
            raise QueryError(f"Identifier '{self.root}' could not be resolved.")
        value = ctx.row
        for step in self.steps:
            key = step.eval(ctx)
            if isinstance(value, dict) and isinstance(key, str):
                value = value.get(key, UNDEFINED)
            elif isinstance(value, list) and isinstance(key, int) and not isinstance(key, bool):
                value = value[key] if 0 <= key < len(value) else UNDEFINED
            else:
                return UNDEFINED
        return value

    def policy_path(self) -> str | None:
        """The path as a vector policy names it (`/embedding`), when every step is a literal name."""
        names = [step.value for step in self.steps if isinstance(step, Literal) and isinstance(step.value, str)]
        return "/" + "/".join(names) if names and len(names) == len(self.steps) else None


@dataclass(frozen=True)
class ArrayLiteral(Expr):
    items: tuple[Expr, ...]

    def eval(self, ctx: Context) -> Any:
        return [value for value in (item.eval(ctx) for item in self.items) if value is not UNDEFINED]

    def has_aggregate(self) -> bool:
        return any(item.has_aggregate() for item in self.items)


@dataclass(frozen=True)
class ObjectLiteral(Expr):
    fields: tuple[tuple[str, Expr], ...]

    def eval(self, ctx: Context) -> Any:
        return {key: value for key, expr in self.fields if (value := expr.eval(ctx)) is not UNDEFINED}

    def has_aggregate(self) -> bool:
        return any(expr.has_aggregate() for _, expr in self.fields)


@dataclass(frozen=True)
class Unary(Expr):
    op: str
    operand: Expr

    def eval(self, ctx: Context) -> Any:
        value = self.operand.eval(ctx)
        if self.op == "not":
            return (not value) if isinstance(value, bool) else UNDEFINED
        if json_type(value) != "number":
            return UNDEFINED
        return -value if self.op == "-" else value

    def has_aggregate(self) -> bool:
        return self.operand.has_aggregate()


_COMPARE = {
    "<": lambda a, b: a < b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b,
}
_ARITHMETIC = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b else UNDEFINED, "%": lambda a, b: a % b if b else UNDEFINED,
}


@dataclass(frozen=True)
class Binary(Expr):
    op: str
    left: Expr
    right: Expr

    def eval(self, ctx: Context) -> Any:
        if self.op in ("and", "or"):
            return self._logical(self.left.eval(ctx), self.right.eval(ctx))
        if self.op == "??":
            left = self.left.eval(ctx)
            return self.right.eval(ctx) if left is UNDEFINED else left
        a, b = self.left.eval(ctx), self.right.eval(ctx)
        if a is UNDEFINED or b is UNDEFINED:
            return UNDEFINED
        if self.op in ("=", "!=", "<>"):
            if type(a) is type(b) and type(a) is str:  # the common case (ids, types), without the general checks
                return (a == b) == (self.op == "=")
            if json_type(a) != json_type(b):
                return UNDEFINED
            return _same(a, b) if self.op == "=" else not _same(a, b)
        if self.op in _COMPARE:
            kind = json_type(a)
            if kind != json_type(b) or kind not in ("number", "string", "boolean"):
                return UNDEFINED
            return _COMPARE[self.op](a, b)
        if self.op == "||":
            return a + b if isinstance(a, str) and isinstance(b, str) else UNDEFINED
        if json_type(a) != "number" or json_type(b) != "number":
            return UNDEFINED
        return _ARITHMETIC[self.op](a, b)

    def _logical(self, a: Any, b: Any) -> Any:
        if self.op == "and":
            if a is False or b is False:
                return False
            return True if a is True and b is True else UNDEFINED
        if a is True or b is True:
            return True
        return False if a is False and b is False else UNDEFINED

    def has_aggregate(self) -> bool:
        return self.left.has_aggregate() or self.right.has_aggregate()


@dataclass(frozen=True)
class In(Expr):
    needle: Expr
    options: tuple[Expr, ...]
    negated: bool

    def eval(self, ctx: Context) -> Any:
        value = self.needle.eval(ctx)
        if value is UNDEFINED:
            return UNDEFINED
        found = any(_same(value, option.eval(ctx)) for option in self.options)
        return found != self.negated


@dataclass(frozen=True)
class Between(Expr):
    value: Expr
    low: Expr
    high: Expr

    def eval(self, ctx: Context) -> Any:
        value, low, high = self.value.eval(ctx), self.low.eval(ctx), self.high.eval(ctx)
        kinds = {json_type(value), json_type(low), json_type(high)}
        if len(kinds) != 1 or kinds & {"undefined", "null", "array", "object"}:
            return UNDEFINED
        return low <= value <= high


@dataclass(frozen=True)
class Aggregate(Expr):
    name: str
    argument: Expr

    def eval(self, ctx: Context) -> Any:
        raise QueryError(f"Aggregate {self.name.upper()} is only allowed in the SELECT list.")

    def has_aggregate(self) -> bool:
        return True

    def reduce(self, contexts: Sequence[Context]) -> Any:
        values = [value for value in (self.argument.eval(ctx) for ctx in contexts) if value is not UNDEFINED]
        if self.name == "count":
            return len(values)
        numbers = [v for v in values if json_type(v) == "number"]
        if self.name == "sum":
            return sum(numbers) if len(numbers) == len(values) else UNDEFINED
        if self.name == "avg":
            return sum(numbers) / len(numbers) if numbers and len(numbers) == len(values) else UNDEFINED
        if not values:
            return UNDEFINED
        ordered = sorted(values, key=sort_key)
        return ordered[0] if self.name == "min" else ordered[-1]


def _distance_function(ctx: Context, args: Sequence[Expr]) -> str:
    """The options argument's distanceFunction, else the container policy's for that path, else cosine."""
    if not 2 <= len(args) <= 4:
        raise QueryError("VectorDistance takes 2 to 4 arguments.")
    options = args[3].eval(ctx) if len(args) == 4 else {}
    function = options.get("distanceFunction") if isinstance(options, dict) else None
    if function is None and isinstance(args[0], Path):
        function = ctx.distance_functions.get(args[0].policy_path() or "")
    function = (function or "cosine").lower()
    if function not in ("cosine", "dotproduct", "euclidean"):
        raise QueryError(f"Unsupported distance function '{function}' (use cosine, dotproduct or euclidean).")
    return function


def _scores(function: str, matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Similarity (cosine, dotproduct) or distance (euclidean) of each row of `matrix` to `query`."""
    if function == "dotproduct":
        return matrix @ query
    if function == "euclidean":
        return np.linalg.norm(matrix - query, axis=1)
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(query)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norms > 0, (matrix @ query) / np.where(norms > 0, norms, 1), np.nan)


def _as_vector(ctx: Context, value: Any, length: int | None = None) -> np.ndarray | None:
    if not isinstance(value, list) or not value or (length is not None and len(value) != length):
        return None
    try:
        return ctx.vectors(value)
    except (TypeError, ValueError):
        return None


def _vector_distance(ctx: Context, args: Sequence[Expr]) -> Any:
    function = _distance_function(ctx, args)
    first = _as_vector(ctx, args[0].eval(ctx))
    second = _as_vector(ctx, args[1].eval(ctx), None if first is None else len(first))
    if first is None or second is None:
        return UNDEFINED
    score = float(_scores(function, first[None, :], second)[0])
    return UNDEFINED if np.isnan(score) else score


def _all_rows_vector_distance(call: Call, contexts: Sequence[Context]) -> dict[int, Any]:
    """One VectorDistance for every row in one matrix product, when its second argument is the same for all rows
    (a parameter or a literal: the usual `VectorDistance(c.embedding, @q)`)."""
    if not contexts:
        return {}
    first_ctx = contexts[0]
    function = _distance_function(first_ctx, call.args)
    query = _as_vector(first_ctx, call.args[1].eval(first_ctx))
    scores: dict[int, Any] = {id(ctx.row): UNDEFINED for ctx in contexts}
    if query is None:
        return scores
    rows, vectors = [], []
    for ctx in contexts:
        vector = _as_vector(ctx, call.args[0].eval(ctx), len(query))
        if vector is not None:
            rows.append(id(ctx.row))
            vectors.append(vector)
    if vectors:
        for row, score in zip(rows, _scores(function, np.stack(vectors), query).tolist(), strict=True):
            scores[row] = UNDEFINED if np.isnan(score) else score
    return scores


def _row_independent(expr: Expr) -> bool:
    if isinstance(expr, Path):
        return False
    if isinstance(expr, ArrayLiteral):
        return all(_row_independent(item) for item in expr.items)
    return isinstance(expr, Literal | Param)


def _string_args(values: Sequence[Any], count: int) -> bool:
    return all(isinstance(value, str) for value in values[:count])


def _array_contains(values: Sequence[Any]) -> Any:
    array, needle = values[0], values[1]
    partial = len(values) > 2 and values[2] is True
    if not isinstance(array, list):
        return UNDEFINED
    if partial and isinstance(needle, dict):
        return any(isinstance(item, dict) and all(_same(item.get(k, UNDEFINED), v) for k, v in needle.items())
                   for item in array)
    return any(_same(item, needle) for item in array)


_SCALARS: dict[str, Callable[[Sequence[Any]], Any]] = {
    "is_defined": lambda v: v[0] is not UNDEFINED,
    "is_null": lambda v: v[0] is None,
    "is_string": lambda v: isinstance(v[0], str),
    "is_number": lambda v: json_type(v[0]) == "number",
    "is_bool": lambda v: isinstance(v[0], bool),
    "is_array": lambda v: isinstance(v[0], list),
    "is_object": lambda v: isinstance(v[0], dict),
    "array_contains": _array_contains,
    "array_length": lambda v: len(v[0]) if isinstance(v[0], list) else UNDEFINED,
    "lower": lambda v: v[0].lower() if isinstance(v[0], str) else UNDEFINED,
    "upper": lambda v: v[0].upper() if isinstance(v[0], str) else UNDEFINED,
    "length": lambda v: len(v[0]) if isinstance(v[0], str) else UNDEFINED,
    "startswith": lambda v: v[0].startswith(v[1]) if _string_args(v, 2) else UNDEFINED,
    "endswith": lambda v: v[0].endswith(v[1]) if _string_args(v, 2) else UNDEFINED,
    "contains": lambda v: (v[1].lower() in v[0].lower() if len(v) > 2 and v[2] is True else v[1] in v[0])
    if _string_args(v, 2) else UNDEFINED,
    "concat": lambda v: "".join(v) if _string_args(v, len(v)) else UNDEFINED,
}


@dataclass(frozen=True)
class Call(Expr):
    name: str  # lower-cased
    args: tuple[Expr, ...]

    def eval(self, ctx: Context) -> Any:
        if self.name == "vectordistance":
            computed = ctx.scores.get(id(self))
            return computed[id(ctx.row)] if computed is not None else _vector_distance(ctx, self.args)
        function = _SCALARS.get(self.name)
        if function is None:
            raise QueryError(f"'{self.name}' is not a recognized built-in function name.")
        return function([arg.eval(ctx) for arg in self.args] or [UNDEFINED])

    def has_aggregate(self) -> bool:
        return any(arg.has_aggregate() for arg in self.args)


# -- queries --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderKey:
    expr: Expr
    descending: bool


@dataclass(frozen=True)
class Query:
    alias: str
    distinct: bool
    value: bool
    star: bool
    projection: tuple[tuple[str | None, Expr], ...]
    where: Expr | None
    order_by: tuple[OrderKey, ...]
    top: Expr | None
    offset: Expr | None
    limit: Expr | None

    @property
    def is_vector_search(self) -> bool:
        return any(isinstance(key.expr, Call) and key.expr.name == "vectordistance" for key in self.order_by)


@dataclass
class _Parser:
    tokens: list[tuple[str, str]]
    at: int = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.at += 1
        return token

    def is_keyword(self, *words: str) -> bool:
        kind, text = self.peek()
        return kind == "name" and text.lower() in words

    def is_op(self, *ops: str) -> bool:
        kind, text = self.peek()
        return kind == "op" and text in ops

    def expect_keyword(self, word: str) -> None:
        if not self.is_keyword(word):
            raise QueryError(f"Syntax error, expected '{word.upper()}' near '{self.peek()[1]}'.")
        self.take()

    def expect_op(self, op: str) -> None:
        if not self.is_op(op):
            raise QueryError(f"Syntax error, expected '{op}' near '{self.peek()[1]}'.")
        self.take()

    def name(self) -> str:
        kind, text = self.take()
        if kind != "name" or text.lower() in _KEYWORDS:
            raise QueryError(f"Syntax error, expected an identifier near '{text}'.")
        return text

    # grammar ------------------------------------------------------------------------------------------------

    def query(self) -> Query:
        self.expect_keyword("select")
        distinct = self._optional_keyword("distinct")
        top = self.count_expr() if self._optional_keyword("top") else None
        value = self._optional_keyword("value")
        star = False
        projection: list[tuple[str | None, Expr]] = []
        if self.is_op("*"):
            self.take()
            star = True
        else:
            projection.append(self.projection_item())
            while self.is_op(","):
                self.take()
                projection.append(self.projection_item())
        if value and (star or len(projection) != 1):
            raise QueryError("SELECT VALUE takes exactly one expression.")
        self.expect_keyword("from")
        alias = self.name()
        if self.is_keyword("as"):
            self.take()
            alias = self.name()
        elif self.peek()[0] == "name" and self.peek()[1].lower() not in _KEYWORDS:
            alias = self.name()
        if self.is_keyword("join", "group"):
            raise QueryError(f"{self.peek()[1].upper()} is not supported by this emulator.")
        where = self.expr() if self._optional_keyword("where") else None
        order_by: list[OrderKey] = []
        if self._optional_keyword("order"):
            self.expect_keyword("by")
            order_by.append(self.order_key())
            while self.is_op(","):
                self.take()
                order_by.append(self.order_key())
        offset = limit = None
        if self._optional_keyword("offset"):
            offset = self.count_expr()
            self.expect_keyword("limit")
            limit = self.count_expr()
        if self.peek()[0] != "end":
            raise QueryError(f"Syntax error, unexpected '{self.peek()[1]}'.")
        if top is not None and offset is not None:
            raise QueryError("TOP and OFFSET LIMIT cannot be used in the same query.")
        return Query(alias, distinct, value, star, tuple(projection), where, tuple(order_by), top, offset, limit)

    def _optional_keyword(self, word: str) -> bool:
        if self.is_keyword(word):
            self.take()
            return True
        return False

    def count_expr(self) -> Expr:
        kind, text = self.take()
        if kind == "number" and text.isdigit():
            return Literal(int(text))
        if kind == "param":
            return Param(text)
        raise QueryError(f"Syntax error, expected a number or a parameter near '{text}'.")

    def projection_item(self) -> tuple[str | None, Expr]:
        expr = self.expr()
        if self._optional_keyword("as"):
            return self.name(), expr
        if self.peek()[0] == "name" and self.peek()[1].lower() not in _KEYWORDS:
            return self.name(), expr
        return None, expr

    def order_key(self) -> OrderKey:
        expr = self.expr()
        descending = False
        if self.is_keyword("asc", "desc"):
            descending = self.take()[1].lower() == "desc"
        return OrderKey(expr, descending)

    def expr(self) -> Expr:
        left = self.conjunction()
        while self.is_keyword("or"):
            self.take()
            left = Binary("or", left, self.conjunction())
        return left

    def conjunction(self) -> Expr:
        left = self.negation()
        while self.is_keyword("and"):
            self.take()
            left = Binary("and", left, self.negation())
        return left

    def negation(self) -> Expr:
        if self.is_keyword("not"):
            self.take()
            return Unary("not", self.negation())
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.additive()
        if self.is_op("=", "!=", "<>", "<", ">", "<=", ">="):
            return Binary(self.take()[1], left, self.additive())
        negated = False
        if self.is_keyword("not") and self.peek(1)[0] == "name" and self.peek(1)[1].lower() in ("in", "between"):
            self.take()
            negated = True
        if self._optional_keyword("in"):
            self.expect_op("(")
            options = [self.expr()]
            while self.is_op(","):
                self.take()
                options.append(self.expr())
            self.expect_op(")")
            return In(left, tuple(options), negated)
        if self._optional_keyword("between"):
            low = self.additive()
            self.expect_keyword("and")
            between = Between(left, low, self.additive())
            return Unary("not", between) if negated else between
        if self.is_op("??"):
            self.take()
            return Binary("??", left, self.comparison())
        return left

    def additive(self) -> Expr:
        left = self.multiplicative()
        while self.is_op("+", "-", "||"):
            left = Binary(self.take()[1], left, self.multiplicative())
        return left

    def multiplicative(self) -> Expr:
        left = self.unary()
        while self.is_op("*", "/", "%"):
            left = Binary(self.take()[1], left, self.unary())
        return left

    def unary(self) -> Expr:
        if self.is_op("-", "+"):
            return Unary(self.take()[1], self.unary())
        return self.postfix(self.primary())

    def postfix(self, expr: Expr) -> Expr:
        while self.is_op(".", "["):
            if not isinstance(expr, Path):
                raise QueryError("Property access is only supported on the FROM alias.")
            if self.take()[1] == ".":
                step: Expr = Literal(self.take()[1])
            else:
                step = self.expr()
                self.expect_op("]")
            expr = Path(expr.root, (*expr.steps, step))
        return expr

    def primary(self) -> Expr:
        kind, text = self.take()
        if kind == "number":
            return Literal(float(text) if any(c in text for c in ".eE") else int(text))
        if kind == "string":
            return Literal(json.loads('"' + text[1:-1].replace('"', '\\"').replace("\\'", "'") + '"')
                           if text[0] == "'" else json.loads(text))
        if kind == "param":
            return Param(text)
        if kind == "op" and text == "(":
            inner = self.expr()
            self.expect_op(")")
            return inner
        if kind == "op" and text == "[":
            items = []
            while not self.is_op("]"):
                items.append(self.expr())
                if not self.is_op("]"):
                    self.expect_op(",")
            self.take()
            return ArrayLiteral(tuple(items))
        if kind == "op" and text == "{":
            fields = []
            while not self.is_op("}"):
                key_kind, key = self.take()
                key = json.loads(key) if key_kind == "string" and key[0] == '"' else key.strip("'")
                self.expect_op(":")
                fields.append((key, self.expr()))
                if not self.is_op("}"):
                    self.expect_op(",")
            self.take()
            return ObjectLiteral(tuple(fields))
        if kind == "name":
            lowered = text.lower()
            constants = {"true": True, "false": False, "null": None, "undefined": UNDEFINED}
            if lowered in constants:
                return Literal(constants[lowered])
            if self.is_op("("):
                return self.call(lowered)
            if lowered in _KEYWORDS:
                raise QueryError(f"Syntax error, unexpected keyword '{text}'.")
            return Path(text, ())
        raise QueryError(f"Syntax error near '{text or 'end of query'}'.")

    def call(self, name: str) -> Expr:
        self.expect_op("(")
        args = []
        while not self.is_op(")"):
            args.append(self.expr())
            if not self.is_op(")"):
                self.expect_op(",")
        self.take()
        if name in _AGGREGATES:
            if len(args) != 1:
                raise QueryError(f"{name.upper()} takes one argument.")
            return Aggregate(name, args[0])
        return Call(name, tuple(args))


@functools.lru_cache(maxsize=512)
def parse(text: str) -> Query:
    """The query's syntax tree (cached: applications send the same parameterised texts again and again)."""
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise QueryError(f"Syntax error, unexpected character at position {position}.")
        kind = match.lastgroup or "op"
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return _Parser(tokens).query()


# -- execution ------------------------------------------------------------------------------------------------


def _count(expr: Expr | None, params: Mapping[str, Any], what: str) -> int | None:
    if expr is None:
        return None
    value = expr.eval(Context("", None, params, {}, np.asarray))
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise QueryError(f"The {what} value must be a non-negative integer.")
    return value


def _vector_order(score: Any, distance: bool) -> tuple:
    """VectorDistance sorts most similar first: descending similarity, ascending euclidean distance; rows without
    a score last."""
    if score is UNDEFINED:
        return (1, 0.0)
    return (0, score if distance else -score)


class _Reversed:
    """Wraps a sort key so that one ORDER BY key can be descending while the others ascend."""

    __slots__ = ("key",)

    def __init__(self, key: tuple) -> None:
        self.key = key

    def __lt__(self, other: _Reversed) -> bool:
        return other.key < self.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and other.key == self.key


def execute(
    query: Query,
    rows: Sequence[dict],
    params: Mapping[str, Any],
    distance_functions: Mapping[str, str],
    vectors: Callable[[list], np.ndarray],
) -> list[Any]:
    """All results of the query over `rows`, in order (paging is the caller's business)."""
    scores: dict[int, dict[int, Any]] = {}
    contexts = [Context(query.alias, row, params, distance_functions, vectors, scores) for row in rows]
    if query.where is not None:
        contexts = [ctx for ctx in contexts if query.where.eval(ctx) is True]
    for order in query.order_by:  # vector search: score every remaining row at once, reused by the projection
        call = order.expr
        if isinstance(call, Call) and call.name == "vectordistance" and len(call.args) >= 2 \
                and _row_independent(call.args[1]):
            computed = _all_rows_vector_distance(call, contexts)
            for same in [call, *(expr for _, expr in query.projection if expr == call)]:
                scores[id(same)] = computed
    if any(expr.has_aggregate() for _, expr in query.projection):
        return _aggregate(query, contexts)
    if query.order_by:
        distance = {id(order.expr): _distance_function(contexts[0], order.expr.args) == "euclidean"
                    for order in query.order_by
                    if contexts and isinstance(order.expr, Call) and order.expr.name == "vectordistance"}

        def key(ctx: Context) -> tuple:
            parts = []
            for order in query.order_by:
                if id(order.expr) in distance:
                    parts.append(_vector_order(order.expr.eval(ctx), distance[id(order.expr)]))
                else:
                    value = sort_key(order.expr.eval(ctx))
                    parts.append(_Reversed(value) if order.descending else value)
            return tuple(parts)

        contexts.sort(key=key)
    offset, limit = _count(query.offset, params, "OFFSET"), _count(query.limit, params, "LIMIT")
    top = _count(query.top, params, "TOP")

    def window(items: list) -> list:
        if offset is not None:
            items = items[offset : offset + (limit if limit is not None else len(items))]
        return items[:top] if top is not None else items

    if not query.distinct and not query.value:  # every row projects to a result: cut before projecting
        return [_project(query, ctx) for ctx in window(contexts)]
    results = [result for result in (_project(query, ctx) for ctx in contexts) if result is not UNDEFINED]
    if query.distinct:
        unique: list[Any] = []
        seen = set()
        for result in results:
            marker = json.dumps(result, sort_keys=True)
            if marker not in seen:
                seen.add(marker)
                unique.append(result)
        results = unique
    return window(results)


def _project(query: Query, ctx: Context) -> Any:
    if query.star:
        return ctx.row
    if query.value:
        return query.projection[0][1].eval(ctx)
    result: dict[str, Any] = {}
    for ordinal, (alias, expr) in enumerate(query.projection, start=1):
        value = expr.eval(ctx)
        if value is not UNDEFINED:
            result[alias or _default_name(expr, ordinal)] = value
    return result


def _default_name(expr: Expr, ordinal: int) -> str:
    if isinstance(expr, Path):
        last = expr.steps[-1] if expr.steps else Literal(expr.root)
        if isinstance(last, Literal) and isinstance(last.value, str):
            return last.value
    return f"${ordinal}"


def _aggregate(query: Query, contexts: Sequence[Context]) -> list[Any]:
    if query.star or any(not isinstance(expr, Aggregate) for _, expr in query.projection):
        raise QueryError("Only aggregates may be selected with an aggregate (GROUP BY is not supported).")
    values = [(alias, expr.reduce(contexts)) for alias, expr in query.projection if isinstance(expr, Aggregate)]
    if query.value:
        return [] if values[0][1] is UNDEFINED else [values[0][1]]
    return [{alias or f"${i}": value for i, (alias, value) in enumerate(values, start=1) if value is not UNDEFINED}]
