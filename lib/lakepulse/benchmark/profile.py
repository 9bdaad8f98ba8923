"""Where a micro-batch's time goes: every Spark action started from Python, timed and attributed
to the line of Lakepulse code that started it.

While :class:`ActionProfiler` is active it wraps the calls that run Spark jobs or Delta commits
(``DataFrame.first/collect/count/isEmpty/localCheckpoint``, ``DataFrameWriter.save``, Delta
``merge().execute()``, ``delete``, ``update``, ``SparkSession.sql``). Each call is charged to the
innermost frame of a stream's batch writer (``silver_stream.py``, ``gold/*.py``) plus, when
different, the innermost Lakepulse frame (``io/delta.py:replace_rows``). Nested actions (``first``
calls ``head``) count once, for the outermost. Nothing else changes; the overhead is a stack walk
per action.

Example::

    with ActionProfiler() as profiler:
        start_silver(spark, settings, "available_now").awaitTermination()
    profiler.summary()   # [{"site": "silver_stream.py:__call__:112 localCheckpoint", "calls": 3, "seconds": 4.2}, ...]
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections import defaultdict
from typing import Any

_LIB = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_OWN = os.path.dirname(os.path.abspath(__file__))


def _targets() -> list[tuple[type, str]]:
    from delta.tables import DeltaMergeBuilder, DeltaTable
    from pyspark.sql.classic.dataframe import DataFrame
    from pyspark.sql.readwriter import DataFrameWriter
    from pyspark.sql.session import SparkSession

    return [(DataFrame, name) for name in ("first", "collect", "count", "isEmpty", "localCheckpoint", "toPandas",
                                           "take", "head")] + [
        (DataFrameWriter, "save"), (DeltaMergeBuilder, "execute"), (DeltaTable, "delete"), (DeltaTable, "update"),
        (SparkSession, "sql"),
    ]


def _site() -> str:
    """``file:function:line`` of the batch writer's frame (and the innermost library frame)."""
    frame = sys._getframe(2)
    innermost = writer = None
    while frame is not None:
        path = frame.f_code.co_filename
        if path.startswith(_LIB) and not path.startswith(_OWN):
            where = f"{os.path.relpath(path, _LIB)}:{frame.f_code.co_name}:{frame.f_lineno}"
            innermost = innermost or where
            if "silver_stream" in path or f"{os.sep}gold{os.sep}" in path:
                writer = where
                break
        frame = frame.f_back
    if writer and innermost and writer != innermost:
        return f"{writer} → {innermost}"
    return writer or innermost or "outside lakepulse"


class ActionProfiler:
    """Times Spark actions by the Lakepulse line that started them (see the module docstring)."""

    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = defaultdict(list)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._saved: list[tuple[type, str, Any]] = []

    def _wrap(self, owner: type, name: str, original: Any) -> Any:
        profiler = self

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(profiler._local, "depth", 0)
            if depth:
                return original(*args, **kwargs)
            site = f"{_site()} {name}"
            profiler._local.depth = 1
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                profiler._local.depth = 0
                with profiler._lock:
                    profiler.calls[site].append(elapsed)

        return timed

    def __enter__(self) -> ActionProfiler:
        for owner, name in _targets():
            original = owner.__dict__[name]
            self._saved.append((owner, name, original))
            setattr(owner, name, self._wrap(owner, name, original))
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()

    def summary(self, prefix: str = "") -> list[dict[str, Any]]:
        """Per call site whose writer frame starts with ``prefix``: calls, total and mean seconds,
        largest first."""
        rows = [
            {"site": site, "calls": len(times), "seconds": round(sum(times), 3),
             "mean_seconds": round(sum(times) / len(times), 3)}
            for site, times in self.calls.items() if site.startswith(prefix)
        ]
        return sorted(rows, key=lambda row: -row["seconds"])
