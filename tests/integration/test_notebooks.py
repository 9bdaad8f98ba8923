"""The notebooks in ``notebooks/`` run as plain Python against a small lakehouse and print the
right key figures.

The lakehouse is built once for the module: 19 hand-written silver events (5 people, 3 orders over
two days) and one batch of the real gold writer over them. Each notebook then runs in this process
(``runpy``, sharing the test session) with ``name=value`` arguments, as ``python notebooks/x.py``
would. Every expected figure is worked out by hand from ``_events`` in the comments.

Table names use the schemas ``nbbronze``/``nbsilver``/``nbgold``/``nbops`` so that this module's
catalog entries cannot clash with other modules' in the shared session.
"""

from __future__ import annotations

import os
import runpy
import sys
from datetime import datetime
from pathlib import Path

import pytest

from lakepulse.gold.job import GoldBatchWriter, ensure_gold_tables
from lakepulse.gold.prep import current_identity
from lakepulse.notebook import parameters
from lakepulse.paths import project_root
from lakepulse.reports.document import PNG_SIGNATURE
from lakepulse.silver_stream import ensure_silver_tables
from tests.helpers import DESKTOP, IPHONE, make_settings, silver_event

pytestmark = pytest.mark.integration

# The funnel engine's mapInPandas runs in Python workers started with PYSPARK_PYTHON: this venv.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

NOTEBOOKS = project_root() / "notebooks"
TABLE_NAMES = {
    "bronze": {"table": "nbbronze.events_raw"},
    "silver": {"events_table": "nbsilver.events", "quarantine_table": "nbsilver.quarantine",
               "identity_table": "nbsilver.identity_map", "sessions_table": "nbsilver.sessions",
               "metrics_table": "nbops.pipeline_metrics"},
    "gold": {"user_profile_table": "nbgold.user_profile", "product_metrics_table": "nbgold.product_metrics",
             "user_activity_table": "nbgold.user_activity_hourly", "funnel_daily_table": "nbgold.funnel_daily"},
}


def _at(day: int, hh: int, mm: int) -> datetime:
    return datetime(2026, 3, day, hh, mm)


def _product(event: str, message_id: str, moment: datetime, product_id: str, category: str, price: float,
             **who) -> dict:
    return silver_event(message_id, moment, event=event, product_id=product_id, category=category, price=price, **who)


def _order(message_id: str, moment: datetime, order_id: str, product_id: str, category: str, price: float,
           **who) -> dict:
    line = {"product_id": product_id, "sku": None, "name": None, "brand": None, "category": category,
            "price": price, "quantity": 1}
    return silver_event(message_id, moment, event="Order Completed", order_id=order_id, revenue=price, products=[line],
                  **who)


def _events() -> list[dict]:
    """u1 (desktop) buys p1 on 03-02 and p2 on 03-03, each through the whole funnel; a2 (an iPhone)
    views and adds p1, identifies as u2, then checks out and orders it; u3 views and adds p3;
    the anonymous a4 views p2 and p3; u5 only views a page."""
    u1 = {"anonymous_id": "a1", "user_id": "u1", "context_user_agent": DESKTOP}
    a2 = {"anonymous_id": "a2", "context_user_agent": IPHONE}
    u2 = {**a2, "user_id": "u2"}
    u3 = {"anonymous_id": "a3", "user_id": "u3"}
    a4 = {"anonymous_id": "a4"}
    return [
        silver_event("m01", _at(2, 10, 0), "page", page_path="/", **u1),
        _product("Product Viewed", "m02", _at(2, 10, 1), "p1", "shoes", 80.0, **u1),
        _product("Product Added", "m03", _at(2, 10, 2), "p1", "shoes", 80.0, **u1),
        silver_event("m04", _at(2, 10, 3), event="Checkout Started", **u1),
        _order("m05", _at(2, 10, 5), "o1", "p1", "shoes", 80.0, **u1),
        _product("Product Viewed", "m06", _at(3, 9, 0), "p2", "hats", 50.0, **u1),
        _product("Product Added", "m07", _at(3, 9, 1), "p2", "hats", 50.0, **u1),
        silver_event("m08", _at(3, 9, 2), event="Checkout Started", **u1),
        _order("m09", _at(3, 9, 4), "o2", "p2", "hats", 50.0, **u1),
        _product("Product Viewed", "m10", _at(2, 11, 0), "p1", "shoes", 80.0, **a2),
        _product("Product Added", "m11", _at(2, 11, 2), "p1", "shoes", 80.0, **a2),
        silver_event("m12", _at(2, 11, 3), "identify", **u2),
        silver_event("m13", _at(2, 11, 5), event="Checkout Started", **u2),
        _order("m14", _at(2, 11, 6), "o3", "p1", "shoes", 80.0, **u2),
        _product("Product Viewed", "m15", _at(3, 8, 0), "p3", "bags", 30.0, **u3),
        _product("Product Added", "m16", _at(3, 8, 1), "p3", "bags", 30.0, **u3),
        _product("Product Viewed", "m17", _at(3, 9, 30), "p2", "hats", 50.0, **a4),
        _product("Product Viewed", "m18", _at(3, 9, 31), "p3", "bags", 30.0, **a4),
        silver_event("m19", _at(2, 12, 0), "page", page_path="/", anonymous_id="a5", user_id="u5"),
    ]


@pytest.fixture(scope="module")
def lakehouse(spark, tmp_path_factory):
    folder = tmp_path_factory.mktemp("notebooks")
    settings, path = make_settings(
        folder, "localhost:9", "unused", privacy={"salt": "pytest-salt", "salt_file": ""},
        bronze=TABLE_NAMES["bronze"], silver=TABLE_NAMES["silver"],
        # No hourly window closes (nothing is published to Kafka); views from the project's conf/sql.
        gold={**TABLE_NAMES["gold"], "report_delay_seconds": 10**9, "sql_dir": str(project_root() / "conf" / "sql")},
    )
    silver = ensure_silver_tables(spark, settings)
    tables = ensure_gold_tables(spark, settings)
    schema = spark.read.format("delta").load(silver.events.path).schema
    rows = [{name: row.get(name) for name in schema.fieldNames()} for row in _events()]
    spark.createDataFrame(rows, schema).write.format("delta").mode("append").save(silver.events.path)
    events = spark.read.format("delta").load(silver.events.path)
    # The identity map as silver keeps it (a1 → u1, a2 → u2, …), then one gold batch over everything.
    identity = current_identity(spark.read.format("delta").load(silver.identity.path), events)
    identity.write.format("delta").mode("append").save(silver.identity.path)
    GoldBatchWriter(spark, settings, tables)(events, 0)
    return settings, path


def _run(notebook: str, settings_path: Path, capsys, monkeypatch, *arguments: str) -> str:
    path = NOTEBOOKS / notebook
    first_line = path.read_text().splitlines()[0]
    assert first_line == "# Databricks notebook source"
    monkeypatch.setattr(sys, "argv", [str(path), f"settings={settings_path}", *arguments])
    runpy.run_path(str(path), run_name="__main__")
    return capsys.readouterr().out


def _row(text: str, *first: str) -> list[str]:
    """The whitespace-separated cells of the one output line starting with the cells ``first``."""
    found = [line.split() for line in text.splitlines() if line.split()[:len(first)] == list(first)]
    assert len(found) == 1, f"{first} in:\n{text}"
    return found[0]


def _written(text: str) -> list[Path]:
    return [Path(line.removeprefix("wrote ")) for line in text.splitlines() if line.startswith("wrote ")]


def test_quickstart(lakehouse, capsys, monkeypatch):
    _, settings_path = lakehouse
    out = _run("quickstart.py", settings_path, capsys, monkeypatch)
    assert "nbgold.user_profile" in out and "gold.daily_revenue" in out and "nbgold.hot_products" in out
    assert "events: 19" in out
    # people: u1, u2 (a2 stitched), u3, a4, u5; orders o1 80 + o2 50 (u1), o3 80 (u2)
    assert "people: 5, buyers: 2, orders: 3, revenue: 210.00" in out
    # day, orders, revenue, buyers, average order value
    assert _row(out, "2026-03-02") == ["2026-03-02", "2", "160", "2", "80"]
    assert _row(out, "2026-03-03") == ["2026-03-03", "1", "50", "1", "50"]
    # everything is in the last 24 h before 03-03 10:00: p1 2 views + 3×2 adds + 10×2 orders = 28, …
    assert _row(out, "1", "p1") == ["1", "p1", "shoes", "28", "0", "28"]
    assert _row(out, "2", "p2") == ["2", "p2", "hats", "15", "0", "15"]
    assert _row(out, "3", "p3") == ["3", "p3", "bags", "5", "0", "5"]
    # RFM as of 03-03 09:31: u1 R3 F5 → Loyal, u2 R1 F1 → Hibernating, u3 and a4 R3 → Prospects, u5 R1
    assert _row(out, "Prospects") == ["Prospects", "2", "0", "0", "0.4"]
    assert _row(out, "Loyal") == ["Loyal", "1", "1", "130", "0.2"]
    assert _row(out, "Hibernating") == ["Hibernating", "1", "1", "80", "0.2"]
    assert _row(out, "Lapsed", "prospects") == ["Lapsed", "prospects", "1", "0", "0", "0.2"]


def test_funnels(lakehouse, capsys, monkeypatch):
    _, settings_path = lakehouse
    out = _run("funnels.py", settings_path, capsys, monkeypatch, "breakdown=device")
    # u1 and u2 complete on 03-02, u3 views and adds, a4 only views; u5 never starts
    assert "completed: 2 of 4 (50.0%)" in out
    # device (first touch), step, name, entered, converted, drop-off, from previous, from first, median, p90
    assert _row(out, "desktop", "4") == ["desktop", "4", "Order", "Completed", "1", "1", "0", "100.0%", "100.0%",
                                         "2m", "00s", "2m", "00s"]
    assert _row(out, "mobile", "4")[4:] == ["1", "1", "0", "100.0%", "100.0%", "1m", "00s", "1m", "00s"]
    assert _row(out, "unknown", "1")[4:7] == ["2", "2", "0"]
    assert _row(out, "unknown", "2")[4:9] == ["2", "1", "1", "50.0%", "50.0%"]
    assert _row(out, "unknown", "3")[4:9] == ["1", "0", "1", "0.0%", "0.0%"]
    # trend by device and day
    assert _row(out, "desktop", "2026-03-02") == ["desktop", "2026-03-02", "1", "1", "100.0%"]
    assert _row(out, "unknown", "2026-03-03") == ["unknown", "2026-03-03", "2", "0", "0.0%"]
    # gold.funnel_daily counts u1 on both days: 03-02 u1 and u2 complete; 03-03 u1 completes,
    # u3 adds, a4 views → 5 started, 3 completed
    assert "days: 2026-02-25 to 2026-03-03" in out
    assert "entered: 5, completed: 3, conversion: 60.0%" in out
    png, html = _written(out)
    assert png.read_bytes().startswith(PNG_SIGNATURE) and html.name == "funnel.html"


def test_funnels_without_breakdown_prints_medians(lakehouse, capsys, monkeypatch):
    _, settings_path = lakehouse
    out = _run("funnels.py", settings_path, capsys, monkeypatch,
               "steps=Product Viewed,Product Added,Checkout Started", "window_seconds=3600")
    assert "funnel: Product Viewed → Product Added → Checkout Started within 1h 00m (ordered, by user)" in out
    assert "completed: 2 of 4 (50.0%)" in out
    # to Product Added: u1 60 s, u2 120 s, u3 60 s → median 60 s, p90 60 + 0.8 × 60 = 108 s
    assert _row(out, "2", "Product")[3:] == ["4", "3", "1", "75.0%", "75.0%", "1m", "00s", "1m", "48s"]
    # to Checkout Started: u1 60 s, u2 180 s → median 120 s, p90 60 + 0.9 × 120 = 168 s
    assert _row(out, "3", "Checkout")[3:] == ["3", "2", "1", "66.7%", "50.0%", "2m", "00s", "2m", "48s"]
    assert _row(out, "2026-03-02") == ["2026-03-02", "2", "2", "100.0%"]
    assert _row(out, "2026-03-03") == ["2026-03-03", "2", "0", "0.0%"]


def test_user_report(lakehouse, capsys, monkeypatch):
    _, settings_path = lakehouse
    out = _run("user_report.py", settings_path, capsys, monkeypatch)
    assert "user: u1" in out  # the top buyer (130.00)
    assert "orders: 2, revenue: 130.00" in out and "RFM: 355 (Loyal)" in out
    assert "seen: 2026-03-02 10:00 to 2026-03-03 09:04 UTC" in out
    # clicks: 03-02 10h page, view, add, checkout; 03-03 9h view, add, checkout
    assert "active hours: 2, clicks: 7, purchases: 2" in out
    assert _row(out, "2026-03-02", "10:00:00") == ["2026-03-02", "10:00:00", "4", "1", "80.00"]
    assert _row(out, "first_touch_channel") == ["first_touch_channel", "direct"]
    assert "segment: Loyal (1 person)" in out
    assert _row(out, "segment", "average") == ["segment", "average", "2", "130.00", "0"]
    png, html = _written(out)
    assert png.name == "user-u1-activity.png" and png.read_bytes().startswith(PNG_SIGNATURE)
    assert "<h1>User u1</h1>" in html.read_text()

    out = _run("user_report.py", settings_path, capsys, monkeypatch, "user_id=u2")
    assert "orders: 1, revenue: 80.00" in out and "RFM: 111 (Hibernating)" in out
    with pytest.raises(ValueError, match="notebook argument 'colour=red'"):
        _run("user_report.py", settings_path, capsys, monkeypatch, "colour=red")


class _Widgets:
    """dbutils.widgets as Databricks has it: text() creates a widget, get() reads its value (a job
    may have passed one)."""

    def __init__(self, passed: dict[str, str]):
        self.passed = passed
        self.created: dict[str, tuple[str, str]] = {}

    def text(self, name: str, default: str, label: str) -> None:
        self.created[name] = (default, label)

    def get(self, name: str) -> str:
        return self.passed.get(name, self.created[name][0])


def test_parameters_from_widgets_or_arguments():
    widgets = _Widgets({"user_id": "u-9"})
    dbutils = type("DBUtils", (), {"widgets": widgets})()
    defaults = {"env": "", "user_id": ""}
    assert parameters(defaults, dbutils=dbutils, argv=["ignored=1"]) == {"env": "", "user_id": "u-9"}
    assert widgets.created == {"env": ("", "env"), "user_id": ("", "user_id")}
    assert parameters(defaults, argv=["user_id=a=b"]) == {"env": "", "user_id": "a=b"}
    with pytest.raises(ValueError, match=r"notebook argument 'u9': expected name=value with a name among env, user_id"):
        parameters(defaults, argv=["u9"])
