"""What the notebooks in ``notebooks/`` share: their parameters and opening the lakehouse.

The notebooks are Databricks source files that also run as plain Python. On Databricks, each
parameter is a text widget (so a job can pass it); elsewhere it takes its default, overridden by
``name=value`` command-line arguments::

    python notebooks/user_report.py user_id=u-42 env=local

Example (a notebook cell)::

    params = parameters({"env": "", "settings": "", "user_id": ""}, dbutils=globals().get("dbutils"))
    settings, spark, names = open_lakehouse(params, "user_report")
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakepulse.settings import Settings


def parameters(defaults: Mapping[str, str], dbutils: Any = None, argv: Sequence[str] | None = None) -> dict[str, str]:
    """The notebook's parameters, one per key of ``defaults`` (all text).

    With ``dbutils`` (Databricks): a text widget per name, created with its default, then read.
    Without: the defaults, overridden by ``name=value`` items of ``argv`` (default ``sys.argv[1:]``).
    Raises ValueError for an argument that is not ``name=value`` or names no parameter.
    """
    if dbutils is not None:
        for name, default in defaults.items():
            dbutils.widgets.text(name, default, name)
        return {name: dbutils.widgets.get(name) for name in defaults}
    values = dict(defaults)
    for item in sys.argv[1:] if argv is None else argv:
        name, equals, value = item.partition("=")
        if not equals or name not in defaults:
            raise ValueError(f"notebook argument {item!r}: expected name=value with a name among "
                             f"{', '.join(defaults)}")
        values[name] = value
    return values


def open_lakehouse(params: Mapping[str, str], app_name: str) -> tuple[Settings, SparkSession, list[str]]:
    """Settings (parameters ``env`` and ``settings``, empty for the default), the session (the
    notebook's own on Databricks) and every existing table and view registered by name
    (:func:`lakepulse.sql.register_lakehouse`, whose result is the third item)."""
    from lakepulse.settings import load_settings
    from lakepulse.spark import build_session
    from lakepulse.sql import register_lakehouse

    settings = load_settings(params.get("env") or None, params.get("settings") or None)
    spark = build_session(settings, f"notebook-{app_name}")
    return settings, spark, register_lakehouse(spark, settings)
