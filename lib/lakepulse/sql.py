"""``lakepulse sql``: Spark SQL over the lakehouse, by table name, with the analysts' views.

    lakepulse sql "SELECT * FROM gold.daily_revenue ORDER BY day DESC"
    lakepulse sql "SELECT rfm_segment, users FROM gold.rfm_segments" --limit 20

Every table named in the settings (``bronze.table``, ``silver.*_table``, ``gold.*_table`` …) that
exists is registered in the session catalog under its configured name, then the views are created:
one ``CREATE OR REPLACE VIEW schema.name AS …`` statement per ``gold.sql_dir/*.sql`` file, plus
``gold.hot_products``, whose text comes from :func:`lakepulse.gold.products.hot_products_sql` (the one
owner of that formula). In the files, tables are written as placeholders naming their setting, the
``_table`` suffix optional: ``{gold.user_profile}`` is ``gold.user_profile_table``'s configured name
(``main.gold.user_profile`` with ``lakehouse.catalog: main``), ``{bronze.table}`` the bronze table.
View names get the catalog prefix the same way table names do. A view over a table that does not
exist yet is skipped.

Example::

    names = register_lakehouse(spark, settings)
    print(format_table(["day", "revenue"], [(date(2026, 1, 1), 120.5)]))
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from lakepulse.settings import Settings, SettingsError
from lakepulse.tables import table_ref

PLACEHOLDER = re.compile(r"\{(\w+\.\w+)\}")
_VIEW_HEADER = re.compile(r"^CREATE\s+OR\s+REPLACE\s+VIEW\s+(\w+\.\w+)\s+AS\b", re.IGNORECASE)
_LOGICAL_NAME = re.compile(r"^\w+\.\w+$")
HOT_PRODUCTS_VIEW = "hot_products"


@dataclass(frozen=True)
class ViewDefinition:
    """A view to create: its SQL name, the statement with names substituted, the tables it reads
    (SQL names) and where it was defined (a file, or the module that generates it)."""

    name: str
    statement: str
    tables: tuple[str, ...]
    source: str


def lakehouse_tables(settings: Settings) -> dict[str, str]:
    """Placeholder → logical table name (``schema.table``) for every table in the settings: each
    section's ``table`` and ``*_table`` settings, under ``section.key`` and, for ``*_table``, also
    ``section.key`` without the suffix (``gold.user_profile``)."""
    tables: dict[str, str] = {}
    for section in dataclasses.fields(settings):
        values = getattr(settings, section.name)
        if not dataclasses.is_dataclass(values):
            continue
        for key in dataclasses.fields(values):
            value = getattr(values, key.name)
            if not (key.name == "table" or key.name.endswith("_table")) or not isinstance(value, str) \
                    or not _LOGICAL_NAME.match(value):
                continue
            tables[f"{section.name}.{key.name}"] = value
            if key.name.endswith("_table"):
                tables[f"{section.name}.{key.name.removesuffix('_table')}"] = value
    return tables


def _strip_comments(text: str) -> str:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return "\n".join(lines).strip().rstrip(";").strip()


def _substitute(text: str, settings: Settings, source: str) -> tuple[str, tuple[str, ...]]:
    tables = lakehouse_tables(settings)
    used: list[str] = []

    def name_of(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in tables:
            known = ", ".join("{" + k + "}" for k in sorted(tables))
            raise SettingsError(f"{source}: unknown table placeholder {{{key}}} (known: {known})")
        name = table_ref(settings, tables[key]).name
        used.append(name)
        return name

    return PLACEHOLDER.sub(name_of, text), tuple(dict.fromkeys(used))


def parse_view(text: str, settings: Settings, source: str) -> ViewDefinition:
    """One view file's text → its definition. The text must be a single ``CREATE OR REPLACE VIEW
    schema.name AS …`` statement (``--`` comment lines allowed); raises SettingsError otherwise."""
    body = _strip_comments(text)
    header = _VIEW_HEADER.match(body)
    if not header or ";" in body:
        raise SettingsError(f"{source} must hold one 'CREATE OR REPLACE VIEW schema.name AS ...' statement")
    view_name = table_ref(settings, header.group(1)).name
    statement, used = _substitute(body[header.end():], settings, source)
    return ViewDefinition(view_name, f"CREATE OR REPLACE VIEW {view_name} AS{statement}", used, source)


def sql_dir(settings: Settings) -> Path:
    """The folder of view files: ``gold.sql_dir``; a relative one that is not next to the settings
    file (a settings file shipped alone) is looked up in the project checkout."""
    from lakepulse.paths import project_root

    folder = Path(settings.resolve_path(settings.gold.sql_dir))
    if not folder.is_dir() and not Path(settings.gold.sql_dir).is_absolute():
        folder = project_root() / settings.gold.sql_dir
    return folder


def hot_products_view(settings: Settings) -> ViewDefinition:
    """``<schema of product_metrics>.hot_products``: :func:`hot_products_sql` over the configured
    product_metrics table and ``gold.hot_products_hours``."""
    from lakepulse.gold.products import hot_products_sql

    metrics = table_ref(settings, settings.gold.product_metrics_table).name
    schema = settings.gold.product_metrics_table.split(".")[0]
    name = table_ref(settings, f"{schema}.{HOT_PRODUCTS_VIEW}").name
    statement = f"CREATE OR REPLACE VIEW {name} AS\n{hot_products_sql(metrics, settings.gold.hot_products_hours)}"
    return ViewDefinition(name, statement, (metrics,), "lakepulse.gold.products.hot_products_sql")


def view_definitions(settings: Settings) -> list[ViewDefinition]:
    """Every view: the files of :func:`sql_dir` in name order, then ``hot_products``. Pure (no Spark);
    raises SettingsError for a malformed file or an unknown placeholder."""
    folder = sql_dir(settings)
    files = sorted(folder.glob("*.sql")) if folder.is_dir() else []
    return [parse_view(path.read_text(), settings, str(path)) for path in files] + [hot_products_view(settings)]


def register_lakehouse(spark: SparkSession, settings: Settings) -> list[str]:
    """Register every existing lakehouse table under its configured name and create the views whose
    tables all exist. Returns the SQL names registered, then the views created, in order.

    Tables whose folder holds no Delta table yet are skipped (and so are views over them), so this
    works from the first bronze batch on. Idempotent: run it in every new session.
    """
    from delta.tables import DeltaTable

    from lakepulse.io.delta import register_table

    registered: list[str] = []
    for logical in dict.fromkeys(lakehouse_tables(settings).values()):
        ref = table_ref(settings, logical)
        if DeltaTable.isDeltaTable(spark, ref.path):
            register_table(spark, ref)
            registered.append(ref.name)
    views: list[str] = []
    for view in view_definitions(settings):
        if all(table in registered for table in view.tables):
            spark.sql(f"CREATE SCHEMA IF NOT EXISTS {view.name.rsplit('.', 1)[0]}")
            spark.sql(view.statement)
            views.append(view.name)
    return registered + views


def format_value(value: Any) -> str:
    """A value as shown in tables: ``NULL``, ``true``/``false``, floats with at most 4 decimals
    (trailing zeros dropped), timestamps ``YYYY-MM-DD HH:MM:SS``, dates ISO, text on one line."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        text = f"{value:.4f}".rstrip("0").rstrip(".")
        return "0" if text == "-0" else text
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return " ".join(str(value).splitlines())


_NUMERIC_TEXT = re.compile(r"^([-+]?[\d,]*\.?\d+%?|-)$")  # "-": no value, in a column of numbers


def is_numeric(value: Any) -> bool:
    """Numbers, and text that shows one (``1,234.50``, ``37.5%``, ``-`` for none): right-aligned."""
    if isinstance(value, str):
        return bool(_NUMERIC_TEXT.match(value.strip()))
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def format_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """An aligned text table: a header, a rule, one line per row, values as :func:`format_value`
    shows them. Columns of numbers (or of text showing numbers, like ``1,234.50`` or ``37.5%``:
    format money and shares first for a fixed precision) are right-aligned, others left-aligned.

    Example::

        format_table(["step", "users"], [("Product Viewed", 4), ("Order Completed", 1)])
    """
    rows = [tuple(row) for row in rows]
    cells = [[format_value(v) for v in row] for row in rows]
    numeric = [bool(rows) and all(is_numeric(row[i]) or row[i] is None for row in rows)
               for i in range(len(columns))]
    widths = [max([len(str(c))] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if right else v.ljust(w)
                         for v, w, right in zip(values, widths, numeric, strict=True)).rstrip()

    return "\n".join([line([str(c) for c in columns]), line(["-" * w for w in widths])] + [line(c) for c in cells])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``sql`` sub-command's arguments."""
    parser.add_argument("statement", help="one Spark SQL statement, quoted")
    parser.add_argument("--limit", type=int, default=50, metavar="N",
                        help="print at most N rows (default 50; 0 prints every row)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the statement and print its result; 1 (one line on stderr) when Spark rejects it or it
    fails."""
    from pyspark.errors import PySparkException
    from pyspark.logger import PySparkLogger

    from lakepulse.spark import build_session

    if args.limit < 0:
        print(f"sql: --limit must be 0 or more, got {args.limit}", file=sys.stderr)
        return 2
    spark = build_session(settings, "sql")
    names = register_lakehouse(spark, settings)
    # PySpark also logs a rejected statement as JSON on stderr; the one line below says it all.
    context_logger = PySparkLogger.getLogger("SQLQueryContextLogger")
    context_logger.disabled = True
    try:
        result = spark.sql(args.statement)
        rows = result.collect() if args.limit == 0 else result.take(args.limit + 1)
    except PySparkException as exc:
        print(f"sql: {(str(exc).strip().splitlines() or [type(exc).__name__])[0]}", file=sys.stderr)
        missing = [table_ref(settings, t).name for t in dict.fromkeys(lakehouse_tables(settings).values())
                   if table_ref(settings, t).name not in names]
        if exc.getCondition() == "TABLE_OR_VIEW_NOT_FOUND" and missing:
            print(f"sql: not created yet: {', '.join(missing)}", file=sys.stderr)
        return 1
    finally:
        context_logger.disabled = False
    if not result.columns:
        print("OK")
        return 0
    shown = rows if args.limit == 0 else rows[:args.limit]
    print(format_table(result.columns, shown))
    if args.limit and len(rows) > args.limit:
        print(f"(first {args.limit} rows; --limit N shows more)")
    else:
        print(f"({len(shown)} row{'' if len(shown) == 1 else 's'})")
    return 0
