"""The feature vocabulary: a formula is one SQL expression (DuckDB dialect, parsed with sqlglot)
restricted to a safe subset, turned into a small tree (`Ref`, `Const`, `Call`) that the
validator type-checks and the compiler turns into windowed SQL.

Allowed: column and feature names, numeric/string/boolean/NULL literals, arithmetic, comparisons,
AND/OR/NOT, IS [NOT] NULL, BETWEEN, IN (literals), CASE/IF, CAST to double/bigint/boolean, the
scalar functions in `SCALAR_FUNCTIONS` and the vocabulary functions in `SERIES_FUNCTIONS`
(windows over one symbol's past bars) and `CROSS_SECTION_FUNCTIONS` (all symbols at the same bar).
Everything else (subqueries, table functions such as read_csv, ATTACH, COPY, OVER clauses, LEAD,
unknown functions) is refused with the reason, so a spec can neither read files nor look ahead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from python_udfs.feature_inputs import BOOLEAN, NUMBER, TEXT, TIMESTAMP

NULL = "null"
"""Type of the NULL literal: fits any other type."""

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,30}$")
EMA_TOLERANCE = 1e-10
"""ema(x, span) keeps the kernel weights down to this fraction of the first (see `ema_kernel_bars`)."""


class FormulaError(ValueError):
    """A formula is outside the vocabulary; the message is the reason (the caller adds file and key)."""


@dataclass(frozen=True)
class Ref:
    """A bar column, calendar column or feature, by name."""

    name: str


@dataclass(frozen=True)
class Const:
    """A literal: number, string, boolean or NULL."""

    value: float | int | str | bool | None


@dataclass(frozen=True)
class Call:
    """An operator or function applied to sub-expressions (`args`) and literal parameters (`params`:
    window lengths, spans, symbols)."""

    fn: str
    args: tuple[Node, ...]
    params: tuple[int | str, ...] = ()


Node = Ref | Const | Call


@dataclass(frozen=True)
class Function:
    """One function of the vocabulary: argument types, literal parameters, result type and kind.

    `kind` is `scalar` (row by row), `series` (a window over the symbol's past bars, ordered by ts)
    or `cross_section` (over every symbol at the same ts). Parameter kinds: `bars` (an offset,
    integer >= 1), `window` (a window length, integer >= 2), `span` (an EMA span, integer >= 2),
    `symbol` (a quoted symbol such as 'BTCUSDT'), `digits` (integer >= 0, optional)."""

    name: str
    args: tuple[str, ...]
    params: tuple[str, ...] = ()
    result: str = NUMBER
    kind: str = "scalar"
    variadic: bool = False
    doc: str = ""
    optional_params: int = 0


def _fn(name: str, args: tuple[str, ...], params: tuple[str, ...] = (), result: str = NUMBER,
        kind: str = "scalar", doc: str = "", **extra: object) -> tuple[str, Function]:
    return name, Function(name, args, params, result, kind, doc=doc, **extra)  # type: ignore[arg-type]


ANY, SAME = "any", "same"
SCALAR_FUNCTIONS: dict[str, Function] = dict([
    *(_fn(name, (NUMBER,), doc=f"{name}(x)") for name in
      ("ln", "log10", "log2", "exp", "sqrt", "abs", "sign", "floor", "ceil", "tanh")),
    _fn("round", (NUMBER,), ("digits",), doc="round(x[, digits])", optional_params=1),
    _fn("power", (NUMBER, NUMBER), doc="power(x, y)"),
    _fn("greatest", (NUMBER,), doc="greatest(x, y, ...)", variadic=True),
    _fn("least", (NUMBER,), doc="least(x, y, ...)", variadic=True),
    _fn("coalesce", (SAME,), result=SAME, doc="coalesce(x, y, ...)", variadic=True),
    _fn("nullif", (SAME, SAME), result=SAME, doc="nullif(x, y)"),
    _fn("epoch", (TIMESTAMP,), doc="epoch(t): seconds since 1970 (UTC)"),
    _fn("hour", (TIMESTAMP,), doc="hour(t) in UTC"),
    _fn("minute", (TIMESTAMP,), doc="minute(t) in UTC"),
    _fn("isodow", (TIMESTAMP,), doc="isodow(t) in UTC: 1 = Monday .. 7 = Sunday"),
])

SERIES_FUNCTIONS: dict[str, Function] = dict([
    _fn("lag", (ANY,), ("bars",), result=SAME, kind="series", doc="lag(x, n): x n bars ago"),
    _fn("log_return", (NUMBER,), ("bars",), kind="series", doc="log_return(x, n) = ln(x / lag(x, n))"),
    _fn("pct_change", (NUMBER,), ("bars",), kind="series", doc="pct_change(x, n) = x / lag(x, n) - 1"),
    _fn("diff", (NUMBER,), ("bars",), kind="series", doc="diff(x, n) = x - lag(x, n)"),
    *(_fn(f"rolling_{agg}", (NUMBER,), ("window",), kind="series",
          doc=f"rolling_{agg}(x, n) over the last n bars (NULL unless all n are present)")
      for agg in ("mean", "sum", "std", "var", "min", "max")),
    _fn("rolling_count", (BOOLEAN,), ("window",), kind="series",
        doc="rolling_count(cond, n): bars of the last n where cond is true (NULL unless cond is known on all n)"),
    _fn("rolling_cov", (NUMBER, NUMBER), ("window",), kind="series", doc="rolling_cov(x, y, n): sample covariance"),
    _fn("rolling_corr", (NUMBER, NUMBER), ("window",), kind="series", doc="rolling_corr(x, y, n): Pearson"),
    _fn("rolling_beta", (NUMBER, NUMBER), ("window",), kind="series",
        doc="rolling_beta(y, x, n): OLS slope of y on x"),
    _fn("zscore", (NUMBER,), ("window",), kind="series",
        doc="zscore(x, n) = (x - rolling_mean(x, n)) / rolling_std(x, n), current bar included"),
    _fn("pct_rank", (NUMBER,), ("window",), kind="series",
        doc="pct_rank(x, n): share of the other n-1 values of the last n strictly below x (0..1)"),
    _fn("ema", (NUMBER,), ("span",), kind="series",
        doc="ema(x, span): alpha = 2 / (span + 1), finite kernel (see ema_kernel_bars)"),
    _fn("consecutive", (BOOLEAN,), ("window",), kind="series",
        doc="consecutive(cond, n): run length of cond true up to this bar, capped at n"),
])

CROSS_SECTION_FUNCTIONS: dict[str, Function] = dict([
    _fn("xs_mean", (NUMBER,), kind="cross_section", doc="xs_mean(x): mean over symbols at the same ts"),
    _fn("xs_std", (NUMBER,), kind="cross_section", doc="xs_std(x): sample std over symbols at the same ts"),
    _fn("xs_sum", (NUMBER,), kind="cross_section", doc="xs_sum(x): sum over symbols at the same ts"),
    _fn("xs_count", (ANY,), kind="cross_section", doc="xs_count(x): symbols with x known at the same ts"),
    _fn("xs_rank", (NUMBER,), kind="cross_section",
        doc="xs_rank(x): percent rank among symbols at the same ts (0 lowest .. 1 highest)"),
    _fn("symbol_value", (ANY,), ("symbol",), result=SAME, kind="cross_section",
        doc="symbol_value(x, 'BTCUSDT'): x of that symbol at the same ts"),
])

FUNCTIONS: dict[str, Function] = {**SCALAR_FUNCTIONS, **SERIES_FUNCTIONS, **CROSS_SECTION_FUNCTIONS}

OPERATORS = {
    exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%", exp.IntDiv: "//",
    exp.Pow: "power", exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<=",
    exp.And: "and", exp.Or: "or",
}
ARITHMETIC = {"+", "-", "*", "/", "%", "//"}
COMPARISONS = {"=", "<>", ">", ">=", "<", "<="}

NAMED_FUNCTIONS: dict[type[exp.Expression], str] = {
    exp.Ln: "ln", exp.Exp: "exp", exp.Sqrt: "sqrt", exp.Abs: "abs", exp.Sign: "sign", exp.Floor: "floor",
    exp.Ceil: "ceil", exp.Round: "round", exp.Greatest: "greatest", exp.Least: "least",
    exp.Coalesce: "coalesce", exp.Nullif: "nullif", exp.TimeToUnix: "epoch", exp.Hour: "hour",
    exp.Minute: "minute", exp.DayOfWeekIso: "isodow", exp.Lag: "lag",
}
if hasattr(exp, "Tanh"):
    NAMED_FUNCTIONS[exp.Tanh] = "tanh"

CASTS = {"DOUBLE": "cast_double", "FLOAT": "cast_double", "BIGINT": "cast_bigint", "INT": "cast_bigint",
         "INTEGER": "cast_bigint", "BOOLEAN": "cast_boolean"}

REFUSED: tuple[tuple[tuple[type[exp.Expression], ...], str], ...] = (
    ((exp.Subquery, exp.Select, exp.Union, exp.Exists, exp.Query), "subqueries are not allowed"),
    ((exp.Lead,), "lead() reads later bars: a feature may only use bars known by its own bar"),
    ((exp.Window,), "OVER clauses are not allowed: use the vocabulary (lag, rolling_mean, zscore, ...)"),
    ((exp.Star,), "* is not allowed"),
    ((exp.Placeholder, exp.Parameter), "placeholders are not allowed"),
    (tuple(getattr(exp, name) for name in ("Attach", "Detach", "Copy", "Create", "Insert", "Update", "Delete",
                                          "Drop", "Command", "Pragma", "Set", "Use", "Export", "Install", "Load")
           if hasattr(exp, name)),
     "statements (ATTACH, COPY, CREATE, SET, ...) are not allowed: a formula is one expression"),
)

FILE_FUNCTIONS = frozenset({"read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto",
                            "read_ndjson", "read_text", "read_blob", "glob", "attach", "copy", "query", "query_table",
                            "sniff_csv", "getenv", "current_setting"})


def ema_kernel_bars(span: int) -> int:
    """Length K of the finite EMA kernel: the smallest K with (1 - alpha)^K <= EMA_TOLERANCE.
    Beyond K bars the weights of a recursive EMA sum to at most that fraction, so the kernel value
    equals the recursive EMA (any seed at least K bars back) to within EMA_TOLERANCE x range(x)."""
    alpha = 2.0 / (span + 1.0)
    return max(1, math.ceil(math.log(EMA_TOLERANCE) / math.log(1.0 - alpha)))


def extra_lookback(fn: Function, params: tuple[int | str, ...]) -> int:
    """Bars before the current one that `fn` adds on top of its arguments' lookback."""
    if not fn.params or fn.kind != "series":
        return 0
    n = int(params[0])
    kind = fn.params[0]
    if kind == "bars":
        return n
    if kind == "window":
        return n - 1
    if kind == "span":
        return ema_kernel_bars(n) - 1
    return 0


# --------------------------------------------------------------------------------------------------
# Parsing: sqlglot tree -> Node
# --------------------------------------------------------------------------------------------------

def parse_formula(text: object) -> Node:
    """Parse one formula into the vocabulary tree, or raise FormulaError with the reason."""
    if not isinstance(text, str) or not text.strip():
        raise FormulaError("must be a non-empty string holding one expression")
    try:
        statements = [tree for tree in sqlglot.parse(text, read="duckdb") if tree is not None]
    except (SqlglotError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FormulaError(f"not a valid expression ({first})") from exc
    if len(statements) != 1:
        raise FormulaError("must be exactly one expression (no ';' and no statements)")
    return _convert(statements[0])


def _snippet(node: exp.Expression) -> str:
    text = " ".join(node.sql(dialect="duckdb").split())
    return text if len(text) <= 80 else text[:77] + "..."


def _children(node: exp.Expression) -> list[exp.Expression]:
    """Arguments of a sqlglot function node in declaration order (flags that are not expressions skipped)."""
    values: list[exp.Expression] = []
    for key in node.arg_types:
        value = node.args.get(key)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, exp.Expression):
                values.append(item)
    return values


def _literal(node: exp.Literal) -> Const:
    if node.is_string:
        return Const(str(node.this))
    text = str(node.this)
    try:
        value: float | int = int(text) if re.fullmatch(r"\d+", text) else float(text)
    except ValueError as exc:
        raise FormulaError(f"'{text}' is not a number") from exc
    return Const(value)


def _convert(node: exp.Expression) -> Node:
    for classes, reason in REFUSED:
        if isinstance(node, classes):
            raise FormulaError(f"'{_snippet(node)}': {reason}")
    if isinstance(node, exp.Paren):
        return _convert(node.this)
    if isinstance(node, exp.Column):
        if node.args.get("table") is not None or node.args.get("db") is not None:
            raise FormulaError(f"'{_snippet(node)}': qualified names are not allowed, write the column or feature name")
        name = node.name
        if not NAME_PATTERN.match(name):
            raise FormulaError(f"'{name}' is not a valid name (lowercase letters, digits and _)")
        return Ref(name)
    if isinstance(node, exp.Literal):
        return _literal(node)
    if isinstance(node, exp.Boolean):
        return Const(bool(node.this))
    if isinstance(node, exp.Null):
        return Const(None)
    if isinstance(node, exp.Neg):
        inner = _convert(node.this)
        if isinstance(inner, Const) and isinstance(inner.value, (int, float)) and not isinstance(inner.value, bool):
            return Const(-inner.value)
        return Call("neg", (inner,))
    if isinstance(node, exp.Not):
        if isinstance(node.this, exp.Is):
            return Call("is_not_null", (_is_null_operand(node.this),))
        return Call("not", (_convert(node.this),))
    if isinstance(node, exp.Is):
        return Call("is_null", (_is_null_operand(node),))
    for cls, op in OPERATORS.items():
        if type(node) is cls:
            return Call(op, (_convert(node.this), _convert(node.expression)))
    if isinstance(node, exp.Between):
        return Call("between", (_convert(node.this), _convert(node.args["low"]), _convert(node.args["high"])))
    if isinstance(node, exp.In):
        if node.args.get("query") is not None or node.args.get("unnest") is not None:
            raise FormulaError(f"'{_snippet(node)}': IN takes a list of literals, not a subquery")
        values = [_convert(value) for value in node.expressions]
        if not values or not all(isinstance(value, Const) for value in values):
            raise FormulaError(f"'{_snippet(node)}': IN takes a non-empty list of literals")
        return Call("in", (_convert(node.this), *values))
    if isinstance(node, exp.Case):
        return _case(node)
    if isinstance(node, exp.If):
        false = node.args.get("false")
        return Call("case", (_convert(node.this), _convert(node.args["true"]),
                             _convert(false) if false is not None else Const(None)))
    if isinstance(node, (exp.Cast, exp.TryCast)):
        target = node.to.this.name if hasattr(node.to.this, "name") else str(node.to.this)
        op = CASTS.get(str(target).upper())
        if op is None:
            raise FormulaError(f"'{_snippet(node)}': CAST only to DOUBLE, BIGINT or BOOLEAN")
        return Call(op, (_convert(node.this),))
    if isinstance(node, exp.Log):
        if node.expression is None:
            raise FormulaError("log(x) is ambiguous (base 10 in DuckDB): use ln, log10 or log2")
        base = node.this
        if not (isinstance(base, exp.Literal) and str(base.this) in {"10", "2"}):
            raise FormulaError(f"'{_snippet(node)}': only log10 and log2 are allowed (or ln)")
        return _call(f"log{base.this}", [node.expression], node)
    if isinstance(node, exp.Anonymous):
        return _call(str(node.name).lower(), list(node.expressions), node)
    named = NAMED_FUNCTIONS.get(type(node))
    if named is not None:
        return _call(named, _children(node), node)
    if isinstance(node, exp.Func):
        name = node.sql_name().lower() if hasattr(node, "sql_name") else type(node).__name__.lower()
        if name in FILE_FUNCTIONS or name.startswith("read_"):
            raise FormulaError(f"'{name}' is not allowed: a spec may not read files, tables or settings")
        raise FormulaError(f"unknown or disallowed function '{name}' in '{_snippet(node)}' (known: {known_names()})")
    raise FormulaError(f"'{_snippet(node)}' ({type(node).__name__}) is not allowed in the feature vocabulary")


def _is_null_operand(node: exp.Is) -> Node:
    if not isinstance(node.expression, exp.Null):
        raise FormulaError(f"'{_snippet(node)}': only IS NULL / IS NOT NULL are allowed")
    return _convert(node.this)


def _case(node: exp.Case) -> Call:
    operand = node.this
    args: list[Node] = []
    for branch in node.args.get("ifs") or []:
        condition = _convert(branch.this)
        if operand is not None:
            condition = Call("=", (_convert(operand), condition))
        args.extend((condition, _convert(branch.args["true"])))
    default = node.args.get("default")
    args.append(_convert(default) if default is not None else Const(None))
    return Call("case", tuple(args))


def known_names() -> str:
    return ", ".join(sorted(FUNCTIONS))


def _call(name: str, raw_args: list[exp.Expression], node: exp.Expression) -> Call:
    fn = FUNCTIONS.get(name)
    if fn is None:
        if name in FILE_FUNCTIONS or name.startswith("read_"):
            raise FormulaError(f"'{name}' is not allowed: a spec may not read files, tables or settings")
        raise FormulaError(f"unknown function '{name}' in '{_snippet(node)}' (known: {known_names()})")
    n_args = len(fn.args)
    if fn.variadic:
        if len(raw_args) < 2:
            raise FormulaError(f"{name}() takes at least two arguments")
        return Call(name, tuple(_convert(arg) for arg in raw_args))
    expected = n_args + len(fn.params)
    if not expected - fn.optional_params <= len(raw_args) <= expected:
        raise FormulaError(f"{fn.doc or name} takes {expected} argument(s), got {len(raw_args)}")
    args = tuple(_convert(arg) for arg in raw_args[:n_args])
    params = tuple(_param(fn, kind, raw) for kind, raw in zip(fn.params, raw_args[n_args:]))
    return Call(name, args, params)


def _param(fn: Function, kind: str, raw: exp.Expression) -> int | str:
    value = _convert(raw)
    where = f"{fn.name}(): the {kind} parameter"
    if kind == "symbol":
        if not (isinstance(value, Const) and isinstance(value.value, str) and SYMBOL_PATTERN.match(value.value)):
            raise FormulaError(f"{where} must be a quoted symbol such as 'BTCUSDT', got '{_snippet(raw)}'")
        return value.value
    if not (isinstance(value, Const) and isinstance(value.value, int) and not isinstance(value.value, bool)):
        raise FormulaError(f"{where} must be an integer literal, got '{_snippet(raw)}'")
    minimum = {"bars": 1, "window": 2, "span": 2, "digits": 0}[kind]
    if value.value < minimum:
        raise FormulaError(f"{where} must be >= {minimum}, got {value.value}")
    return value.value


# --------------------------------------------------------------------------------------------------
# Analysis: types, references, lookback
# --------------------------------------------------------------------------------------------------

Resolver = Callable[[str], tuple[str, int]]
"""name -> (type, lookback in bars); raises FormulaError for an unknown name."""


@dataclass
class Analysis:
    """What a formula needs: its type, the bars it reads before the current one, the names it uses."""

    type: str
    lookback: int
    references: set[str] = field(default_factory=set)
    uses_series: bool = False


def references(node: Node) -> set[str]:
    if isinstance(node, Ref):
        return {node.name}
    if isinstance(node, Call):
        return set().union(*(references(arg) for arg in node.args)) if node.args else set()
    return set()


def contains_window(node: Node) -> bool:
    """True when the tree holds a series or cross-section function (states may not)."""
    if isinstance(node, Call):
        fn = FUNCTIONS.get(node.fn)
        if fn is not None and fn.kind != "scalar":
            return True
        return any(contains_window(arg) for arg in node.args)
    return False


def analyze(node: Node, resolve: Resolver) -> Analysis:
    """Type-check `node` and compute its lookback (bars before the current one it reads)."""
    kind, lookback = _analyze(node, resolve)
    return Analysis(kind, lookback, references(node), contains_window(node))


def _const_type(value: object) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, str):
        return TEXT
    return NUMBER


def _require(kind: str, wanted: str, what: str) -> None:
    if kind != wanted and kind != NULL:
        hint = " (use epoch() to turn times into seconds)" if kind == TIMESTAMP and wanted == NUMBER else ""
        raise FormulaError(f"{what} expects {wanted}, got {kind}{hint}")


def _unify(kinds: list[str], what: str) -> str:
    concrete = {kind for kind in kinds if kind != NULL}
    if len(concrete) > 1:
        raise FormulaError(f"{what} mixes types {sorted(concrete)}")
    return concrete.pop() if concrete else NULL


def _analyze(node: Node, resolve: Resolver) -> tuple[str, int]:
    if isinstance(node, Const):
        return _const_type(node.value), 0
    if isinstance(node, Ref):
        return resolve(node.name)
    parts = [_analyze(arg, resolve) for arg in node.args]
    kinds = [kind for kind, _ in parts]
    lookback = max((lb for _, lb in parts), default=0)
    op = node.fn
    if op in ARITHMETIC or op == "neg":
        for kind in kinds:
            _require(kind, NUMBER, f"'{op}'" if op != "neg" else "unary minus")
        return NUMBER, lookback
    if op in COMPARISONS:
        kind = _unify(kinds, f"comparison '{op}'")
        if op not in {"=", "<>"} and kind == BOOLEAN:
            raise FormulaError(f"comparison '{op}' on booleans")
        return BOOLEAN, lookback
    if op in {"and", "or", "not"}:
        for kind in kinds:
            _require(kind, BOOLEAN, f"'{op.upper()}'")
        return BOOLEAN, lookback
    if op in {"is_null", "is_not_null"}:
        return BOOLEAN, lookback
    if op == "between":
        _unify(kinds, "BETWEEN")
        return BOOLEAN, lookback
    if op == "in":
        _unify(kinds, "IN")
        return BOOLEAN, lookback
    if op == "case":
        conditions, results = kinds[0:-1:2], kinds[1:-1:2] + [kinds[-1]]
        for kind in conditions:
            _require(kind, BOOLEAN, "CASE WHEN condition")
        return _unify(results, "CASE results"), lookback
    if op == "cast_double" or op == "cast_bigint":
        if kinds[0] not in {NUMBER, BOOLEAN, NULL}:
            raise FormulaError(f"CAST to a number expects a number or boolean, got {kinds[0]}")
        return NUMBER, lookback
    if op == "cast_boolean":
        if kinds[0] not in {NUMBER, BOOLEAN, NULL}:
            raise FormulaError(f"CAST to boolean expects a number or boolean, got {kinds[0]}")
        return BOOLEAN, lookback
    fn = FUNCTIONS[op]
    result = fn.result
    if fn.variadic:
        if fn.args[0] == SAME:
            result = _unify(kinds, f"{op}()")
        else:
            for kind in kinds:
                _require(kind, fn.args[0], f"{op}()")
    else:
        for wanted, kind in zip(fn.args, kinds):
            if wanted == SAME:
                continue
            if wanted == ANY:
                if kind == TEXT or kind == TIMESTAMP:
                    raise FormulaError(f"{op}() expects a number or boolean, got {kind}")
                continue
            _require(kind, wanted, f"{op}()")
        if SAME in fn.args:
            result = _unify([k for w, k in zip(fn.args, kinds) if w == SAME], f"{op}()")
        if result == SAME:
            result = kinds[0]
    return result, lookback + extra_lookback(fn, node.params)
