"""``lakepulse report`` and ``lakepulse sql`` on tiny hand-built gold Delta tables.

One lakehouse for the module (the tables are only read). Its gold tables use the schema ``rgold``
so that the session's catalog entries cannot clash with other modules' ``gold.*`` tables; the view
files (named ``gold.*``) then read ``rgold.*`` through their placeholders. Every figure asserted is
computed by hand from the rows below.
"""

from __future__ import annotations

import base64
import os
import re
import sys
from datetime import date, datetime
from pathlib import Path

import pytest

from lakepulse.cli import main
from lakepulse.gold.activity import USER_ACTIVITY_SCHEMA
from lakepulse.gold.daily import FUNNEL_DAILY_SCHEMA
from lakepulse.gold.products import PRODUCT_METRICS_SCHEMA
from lakepulse.gold.profiles import USER_PROFILE_SCHEMA
from lakepulse.identity import IDENTITY_MAP_SCHEMA
from lakepulse.paths import project_root
from lakepulse.reports.document import PNG_SIGNATURE
from lakepulse.tables import table_ref
from tests.helpers import make_settings

pytestmark = pytest.mark.integration

# --live runs the funnel engine's mapInPandas in Spark's Python workers, which start
# PYSPARK_PYTHON ("python3" on PATH otherwise, without this project's packages). Set at import, so
# before the session fixture starts the JVM.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

NOW = datetime(2026, 1, 6, 12, 0)
TABLES = {"user_profile_table": "rgold.user_profile", "product_metrics_table": "rgold.product_metrics",
          "user_activity_table": "rgold.user_activity_hourly", "funnel_daily_table": "rgold.funnel_daily"}
SILVER_TABLES = {"events_table": "rsilver.events", "identity_table": "rsilver.identity_map"}


def _profile(user_id: str, orders: int, revenue: float, rfm_score: str, segment: str, recency: int) -> dict:
    last = datetime(2026, 1, 6 - recency, 9, 30)
    return {
        "user_id": user_id, "is_identified": True, "devices": 1, "first_seen": datetime(2026, 1, 1, 8, 0),
        "last_seen": last, "sessions": 2, "events": 20, "page_views": 5, "product_views": 6, "adds_to_cart": 2,
        "checkouts": orders, "orders": orders, "revenue": revenue,
        "average_order_value": revenue / orders if orders else None,
        "first_order_at": datetime(2026, 1, 2, 10, 0) if orders else None,
        "last_order_at": last if orders else None, "active_days": 2, "tenure_days": 5 - recency,
        "categories_viewed": 1, "top_category": "shoes", "first_touch_channel": "email",
        "first_touch_campaign": "winter", "recency_days": recency, "frequency": orders, "monetary": revenue,
        "r_score": int(rfm_score[0]), "f_score": None if orders == 0 else int(rfm_score[1]),
        "m_score": None if orders == 0 else int(rfm_score[2]), "rfm_score": rfm_score, "rfm_segment": segment,
        "as_of": datetime(2026, 1, 6, 9, 30), "updated_at": NOW,
    }


PROFILES = [
    _profile("u1", 3, 300.0, "555", "Champions", 0),
    _profile("u2", 1, 120.5, "411", "New customers", 0),
    _profile("u3", 2, 80.0, "233", "At risk", 4),
    _profile("u4", 0, 0.0, "3--", "Prospects", 1),
    _profile("u5", 0, 0.0, "3--", "Prospects", 2),
]

# (user, hour start, clicks, purchases, revenue)
ACTIVITY = [
    ("u1", datetime(2026, 1, 5, 10), 5, 0, 0.0),
    ("u1", datetime(2026, 1, 5, 11), 3, 1, 100.0),
    ("u1", datetime(2026, 1, 6, 9), 2, 2, 200.0),
    ("u2", datetime(2026, 1, 5, 10), 4, 1, 120.5),
    ("u3", datetime(2026, 1, 4, 8), 1, 2, 80.0),
]

# (product, hour, category, views, adds, orders, revenue). The latest hour is 2026-01-06 09:00, so
# "now" is 10:00 and with 24 hours the current window is [01-05 10:00, 01-06 10:00).
PRODUCTS = [
    ("p1", datetime(2026, 1, 6, 9), "shoes", 10, 2, 1, 49.99),    # current 10 + 6 + 10 = 26
    ("p1", datetime(2026, 1, 5, 8), "shoes", 5, 0, 0, 0.0),       # previous 5 → (26-5)/√6 = 8.57
    ("p2", datetime(2026, 1, 5, 12), "hats", 20, 0, 0, 0.0),      # current 20
    ("p2", datetime(2026, 1, 4, 12), "hats", 30, 0, 0, 0.0),      # previous 30 → -10/√31 = -1.80
    ("p3", datetime(2026, 1, 5, 11), "bags", 4, 1, 0, 0.0),       # current 7, previous 0 → 7.00
    ("p4", datetime(2026, 1, 3, 0), "bags", 50, 5, 5, 500.0),     # before both windows: not ranked
]

STEP_NAMES = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"]
# (day, channel, device, people reaching each step, median seconds to convert per step)
FUNNELS = [
    (date(2026, 1, 5), "email", "desktop", [10, 6, 3, 2], [None, 100.0, 600.0, 60.0]),
    (date(2026, 1, 5), "direct", "mobile", [20, 8, 4, 1], [None, 200.0, 600.0, 60.0]),
    (date(2026, 1, 6), "email", "desktop", [10, 4, 2, 1], [None, 300.0, 600.0, 60.0]),
]


def _funnel_rows() -> list[dict]:
    """funnel_daily rows as gold.funnel.summarize defines them: step i converted = people reaching
    it, entered = people reaching step i − 1 (step 1: both the people starting)."""
    rows = []
    for day, channel, device, reached, medians in FUNNELS:
        for index, (converted, median) in enumerate(zip(reached, medians, strict=True)):
            entered = reached[index - 1] if index else converted
            rows.append({
                "day": day, "channel": channel, "device": device, "step": index + 1,
                "step_name": STEP_NAMES[index], "entered": entered, "converted": converted,
                "conversion_from_previous": converted / entered, "conversion_from_first": converted / reached[0],
                "drop_off": entered - converted, "median_seconds_to_convert": median,
                "p90_seconds_to_convert": median, "updated_at": NOW,
            })
    return rows


def _event(message_id: str, name: str, at: datetime, anonymous_id: str | None, user_id: str | None) -> tuple:
    return (message_id, "track", name, anonymous_id, user_id, at, at.date()) + (None,) * 10


# silver.events for --live (the columns the funnel and sessions need). a1 is identified as u1 by the
# identity map: stitched, u1 completes the funnel (unstitched, nobody would).
SILVER_COLUMNS = "message_id string, type string, event string, anonymous_id string, user_id string, " \
                 "event_time timestamp, event_date date, session_id string, page_path string, page_url string, " \
                 "page_referrer string, campaign_name string, campaign_source string, campaign_medium string, " \
                 "revenue double, order_id string, context_user_agent string"
SILVER = [
    _event("m1", STEP_NAMES[0], datetime(2026, 1, 5, 10, 0), "a1", None),
    _event("m2", STEP_NAMES[1], datetime(2026, 1, 5, 10, 5), "a1", "u1"),
    _event("m3", STEP_NAMES[2], datetime(2026, 1, 5, 10, 10), "a1", "u1"),
    _event("m4", STEP_NAMES[3], datetime(2026, 1, 5, 10, 20), "a1", "u1"),
    _event("m5", STEP_NAMES[0], datetime(2026, 1, 5, 11, 0), "a2", "u2"),
    _event("m6", STEP_NAMES[1], datetime(2026, 1, 5, 11, 30), "a2", "u2"),
    _event("m7", STEP_NAMES[0], datetime(2026, 1, 6, 9, 0), "a3", "u3"),
    _event("m8", STEP_NAMES[0], datetime(2026, 1, 6, 12, 0), "a9", None),
    _event("m9", STEP_NAMES[1], datetime(2026, 1, 6, 12, 1), "a9", None),
    _event("m10", STEP_NAMES[2], datetime(2026, 1, 6, 12, 3), "a9", None),
]


@pytest.fixture(scope="module")
def lakehouse(spark, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports")
    settings, path = make_settings(folder, "localhost:9", "unused", silver=SILVER_TABLES,
                                   gold={**TABLES, "sql_dir": str(project_root() / "conf" / "sql")})
    frames = {
        "user_profile_table": (PROFILES, USER_PROFILE_SCHEMA),
        "user_activity_table": ([{"user_id": u, "window_start": h, "window_end": h.replace(hour=h.hour + 1),
                                  "clicks": c, "purchases": p, "revenue": r, "report_key": f"{u}|{h}",
                                  "published_at": None, "updated_at": NOW} for u, h, c, p, r in ACTIVITY],
                                USER_ACTIVITY_SCHEMA),
        "product_metrics_table": ([{"product_id": p, "hour": h, "event_date": h.date(), "category": c, "views": v,
                                    "adds": a, "orders": o, "units": o, "revenue": r, "updated_at": NOW}
                                   for p, h, c, v, a, o, r in PRODUCTS], PRODUCT_METRICS_SCHEMA),
        "funnel_daily_table": (_funnel_rows(), FUNNEL_DAILY_SCHEMA),
    }
    for key, (rows, schema) in frames.items():
        ordered = [tuple(row[f] for f in schema.fieldNames()) for row in rows]
        (spark.createDataFrame(ordered, schema).coalesce(1).write.format("delta")
         .save(table_ref(settings, getattr(settings.gold, key)).path))
    spark.createDataFrame(SILVER, SILVER_COLUMNS).coalesce(1).write.format("delta").save(
        table_ref(settings, settings.silver.events_table).path)
    link = datetime(2026, 1, 5, 10, 5)
    spark.createDataFrame([("a1", "u1", link, link, 1, ["u1"])], IDENTITY_MAP_SCHEMA).write.format("delta").save(
        table_ref(settings, settings.silver.identity_table).path)
    return settings, path


def _cli(capsys, settings_path: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["--settings", str(settings_path), *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _row(text: str, *first: str) -> list[str]:
    """The whitespace-separated cells of the one output line starting with the cells ``first``."""
    found = [line.split() for line in text.splitlines() if line.split()[:len(first)] == list(first)]
    assert len(found) == 1, f"{first} in:\n{text}"
    return found[0]


def _written(text: str) -> list[Path]:
    return [Path(p) for p in re.findall(r"^wrote (.+)$", text, re.MULTILINE)]


def _check_files(paths: list[Path], charts: int, html_has: list[str]) -> str:
    """PNG files are PNGs; the HTML page (last) embeds each of them and contains ``html_has``."""
    pngs, page = paths[:-1], paths[-1]
    assert len(pngs) == charts and page.suffix == ".html"
    html = page.read_text()
    for png in pngs:
        data = png.read_bytes()
        assert png.suffix == ".png" and data.startswith(PNG_SIGNATURE)
        assert f"data:image/png;base64,{base64.b64encode(data).decode()}" in html
    assert "src=\"http" not in html and "<script" not in html
    for text in html_has:
        assert text in html, text
    return html


def test_users_report(lakehouse, capsys):
    settings, path = lakehouse
    code, out, _ = _cli(capsys, path, "report", "users", "--top", "2")
    assert code == 0
    assert "people: 5" in out and "buyers: 3 (60.0%)" in out and "revenue: 500.50" in out
    assert "Top 2 buyers by revenue" in out
    assert _row(out, "1", "u1")[2:4] == ["3", "300.00"]
    assert _row(out, "2", "u2")[2:5] == ["1", "120.50", "120.50"]
    assert not [line for line in out.splitlines() if line.split()[:2] == ["3", "u3"]]
    # segment, people, share, buyers, revenue, revenue share (of 500.50)
    assert _row(out, "Champions") == ["Champions", "1", "20.0%", "1", "300.00", "59.9%"]
    assert _row(out, "New", "customers")[2:] == ["1", "20.0%", "1", "120.50", "24.1%"]
    assert _row(out, "At", "risk")[2:] == ["1", "20.0%", "1", "80.00", "16.0%"]
    assert _row(out, "Prospects") == ["Prospects", "2", "40.0%", "0", "0.00", "0.0%"]
    paths = _written(out)
    assert [p.name for p in paths] == ["users-top.png", "users-segments.png", "users.html"]
    assert paths[0].parent == Path(settings.resolve_path(settings.gold.reports_dir))
    _check_files(paths, 2, ["<td>Champions</td>", '<td class="num">300.00</td>', "59.9%"])


def test_user_report(lakehouse, capsys):
    _, path = lakehouse
    code, out, _ = _cli(capsys, path, "report", "user", "u1")
    assert code == 0
    assert "orders: 3, revenue: 300.00" in out and "RFM: 555 (Champions)" in out
    assert "active hours: 3, clicks: 10, purchases: 3" in out
    # the profile: every user_profile field, one per line
    for field in USER_PROFILE_SCHEMA.fieldNames():
        assert _row(out, field)
    assert _row(out, "average_order_value") == ["average_order_value", "100"]
    assert _row(out, "rfm_segment") == ["rfm_segment", "Champions"]
    assert _row(out, "2026-01-05", "11:00:00") == ["2026-01-05", "11:00:00", "3", "1", "100.00"]
    assert _row(out, "2026-01-06", "09:00:00") == ["2026-01-06", "09:00:00", "2", "2", "200.00"]
    paths = _written(out)
    assert [p.name for p in paths] == ["user-u1-activity.png", "user-u1.html"]
    _check_files(paths, 1, ["<h1>User u1</h1>", "<td>first_touch_campaign</td>", "<td>winter</td>"])


def test_unknown_user_is_one_line_and_exit_1(lakehouse, capsys):
    _, path = lakehouse
    code, out, err = _cli(capsys, path, "report", "user", "nobody")
    assert code == 1 and out == ""
    assert err == "report user: unknown user 'nobody': not in rgold.user_profile\n"


def test_products_report(lakehouse, capsys):
    _, path = lakehouse
    code, out, _ = _cli(capsys, path, "report", "products", "--top", "3")
    assert code == 0
    assert "the 24 h up to 2026-01-06 10:00 UTC" in out
    # rank, product, category, activity, before, views, adds, orders, revenue, trend
    assert _row(out, "1", "p1") == ["1", "p1", "shoes", "26", "5", "10", "2", "1", "49.99", "8.57"]
    assert _row(out, "2", "p3") == ["2", "p3", "bags", "7", "0", "4", "1", "0", "0.00", "7.00"]
    assert _row(out, "3", "p2") == ["3", "p2", "hats", "20", "30", "20", "0", "0", "0.00", "-1.80"]
    assert "p4" not in out
    paths = _written(out)
    assert [p.name for p in paths] == ["products-hot.png", "products.html"]
    _check_files(paths, 1, ["<td>p1</td>", '<td class="num">8.57</td>'])


def test_funnel_report_from_funnel_daily(lakehouse, capsys):
    _, path = lakehouse
    code, out, _ = _cli(capsys, path, "report", "funnel")
    assert code == 0
    assert "days: 2025-12-31 to 2026-01-06" in out
    assert "entered: 40, completed: 4, conversion: 10.0%" in out
    # step, name, entered, converted, drop-off, from previous, from first, median time
    assert _row(out, "1", "Product") == ["1", "Product", "Viewed", "40", "40", "0", "100.0%", "100.0%", "-"]
    # median: (100×6 + 200×8 + 300×4) / 18 = 188.9 s
    assert _row(out, "2", "Product") == ["2", "Product", "Added", "40", "18", "22", "45.0%", "45.0%", "3m", "09s"]
    assert _row(out, "3", "Checkout")[3:] == ["18", "9", "9", "50.0%", "22.5%", "10m", "00s"]
    assert _row(out, "4", "Order")[3:] == ["9", "4", "5", "44.4%", "10.0%", "1m", "00s"]
    assert _row(out, "2026-01-05") == ["2026-01-05", "30", "3", "10.0%"]
    assert _row(out, "2026-01-06") == ["2026-01-06", "10", "1", "10.0%"]
    paths = _written(out)
    assert [p.name for p in paths] == ["funnel-steps.png", "funnel.html"]
    _check_files(paths, 1, ["<td>Checkout Started</td>", '<td class="num">22.5%</td>'])


def test_funnel_report_one_channel_and_day(lakehouse, capsys):
    _, path = lakehouse
    code, out, _ = _cli(capsys, path, "report", "funnel", "--channel", "email", "--from", "2026-01-05",
                        "--to", "2026-01-05")
    assert code == 0
    assert "entered: 10, completed: 2, conversion: 20.0%" in out
    assert _row(out, "2", "Product")[3:] == ["10", "6", "4", "60.0%", "60.0%", "1m", "40s"]
    code, _, err = _cli(capsys, path, "report", "funnel", "--from", "2026-02-01", "--to", "2026-02-02")
    assert code == 1
    assert err == "report funnel: no funnel data from 2026-02-01 to 2026-02-02 in rgold.funnel_daily\n"


def test_funnel_report_live_from_silver(lakehouse, capsys):
    _, path = lakehouse
    code, out, _ = _cli(capsys, path, "report", "funnel", "--live")
    assert code == 0
    assert "source: live from rsilver.events (funnel engine)" in out
    assert "entered: 4, completed: 1, conversion: 25.0%" in out
    # medians to convert: step 2 of (300, 1800, 60) s, step 3 of (300, 120) s, step 4 600 s
    assert _row(out, "2", "Product")[3:] == ["4", "3", "1", "75.0%", "75.0%", "5m", "00s"]
    assert _row(out, "3", "Checkout")[3:] == ["3", "2", "1", "66.7%", "50.0%", "3m", "30s"]
    assert _row(out, "4", "Order")[3:] == ["2", "1", "1", "50.0%", "25.0%", "10m", "00s"]
    assert _row(out, "2026-01-05") == ["2026-01-05", "2", "1", "50.0%"]
    assert _row(out, "2026-01-06") == ["2026-01-06", "2", "0", "0.0%"]
    code, _, err = _cli(capsys, path, "report", "funnel", "--live", "--channel", "email")
    assert code == 1 and err.count("\n") == 1


def test_sql_command_and_views(spark, lakehouse, capsys):
    _, path = lakehouse
    code, out, _ = _cli(capsys, path, "sql", "SELECT day, orders, revenue, buyers, active_users, "
                        "average_order_value FROM gold.daily_revenue ORDER BY day")
    assert code == 0
    assert out.splitlines()[0].split() == ["day", "orders", "revenue", "buyers", "active_users",
                                           "average_order_value"]
    assert _row(out, "2026-01-04") == ["2026-01-04", "2", "80", "1", "1", "40"]
    assert _row(out, "2026-01-05") == ["2026-01-05", "2", "220.5", "2", "2", "110.25"]
    assert _row(out, "2026-01-06") == ["2026-01-06", "2", "200", "1", "1", "100"]
    assert out.splitlines()[-1] == "(3 rows)"

    code, out, _ = _cli(capsys, path, "sql", "SELECT rfm_segment, users, buyers, revenue, share_of_users "
                        "FROM gold.rfm_segments ORDER BY users DESC, rfm_segment", "--limit", "2")
    assert code == 0
    assert _row(out, "Prospects") == ["Prospects", "2", "0", "0", "0.4"]
    assert _row(out, "At", "risk") == ["At", "risk", "1", "1", "80", "0.2"]
    assert out.splitlines()[-1] == "(first 2 rows; --limit N shows more)"

    # the command registered the tables and views in the session: query the rest directly
    assert [tuple(r) for r in spark.sql("SELECT channel, entered, completed, conversion_rate "
                                        "FROM gold.channel_conversion ORDER BY channel").collect()] == [
        ("direct", 20, 1, 0.05), ("email", 20, 3, 0.15)]
    assert [tuple(r) for r in spark.sql("SELECT revenue_rank, user_id, rfm_segment FROM gold.top_customers "
                                        "ORDER BY revenue_rank").collect()] == [
        (1, "u1", "Champions"), (2, "u2", "New customers"), (3, "u3", "At risk")]
    # hot_products is hot_products_sql over the configured product_metrics table
    assert [tuple(r) for r in spark.sql("SELECT rank, product_id, round(trend_score, 4) "
                                        "FROM rgold.hot_products").collect()] == [
        (1, "p1", 8.5732), (2, "p3", 7.0), (3, "p2", -1.7961)]


def test_sql_error_is_one_line(lakehouse, capsys):
    _, path = lakehouse
    code, out, err = _cli(capsys, path, "sql", "SELECT * FROM gold.no_such_view")
    assert code == 1 and out == ""
    assert err.splitlines()[0].startswith("sql: [TABLE_OR_VIEW_NOT_FOUND]")
    # the lakehouse has no bronze, quarantine, ... yet: the command says so
    assert "not created yet: bronze.events_raw, silver.quarantine" in err
