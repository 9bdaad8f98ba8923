"""Pure parts of ``lakepulse sql`` and the reports: table formatting, view files and their
placeholders, the report document (no Spark)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from lakepulse.paths import project_root
from lakepulse.reports.document import PNG_SIGNATURE, Chart, Report, Table, figure, png_bytes, safe_name
from lakepulse.reports.funnel import duration
from lakepulse.settings import SettingsError
from lakepulse.sql import format_table, lakehouse_tables, parse_view, view_definitions
from tests.helpers import make_settings


def test_format_table_aligns_numbers_right_and_text_left():
    text = format_table(
        ["day", "channel", "orders", "revenue", "share"],
        [(date(2026, 1, 5), "email", 12, 1234.5, "37.5%"), (date(2026, 1, 6), "direct", 3, 0.125, None)],
    )
    assert text.splitlines() == [
        "day         channel  orders  revenue  share",
        "----------  -------  ------  -------  -----",
        "2026-01-05  email        12   1234.5  37.5%",
        "2026-01-06  direct        3    0.125   NULL",
    ]


def test_format_table_values():
    text = format_table(["a", "b", "c", "d"], [(True, datetime(2026, 1, 5, 10, 30), 2 / 3, "two\nlines")])
    assert text.splitlines()[2] == "true  2026-01-05 10:30:00  0.6667  two lines"
    assert format_table(["x"], []) == "x\n-"


@pytest.fixture
def settings(tmp_path):
    (tmp_path / "sql").mkdir()
    return make_settings(tmp_path, "localhost:9", "t", lakehouse={"catalog": "main"},
                         gold={"sql_dir": "sql", "user_profile_table": "analytics.people"})[0]


def test_placeholders_name_every_table_setting(settings):
    tables = lakehouse_tables(settings)
    assert tables["gold.user_profile"] == tables["gold.user_profile_table"] == "analytics.people"
    assert tables["silver.events"] == "silver.events" and tables["bronze.table"] == "bronze.events_raw"
    assert tables["silver.metrics"] == "ops.pipeline_metrics"


def test_view_files_get_configured_names_with_the_catalog(settings, tmp_path):
    (tmp_path / "sql" / "b_buyers.sql").write_text(
        "-- buyers\nCREATE OR REPLACE VIEW gold.buyers AS\nSELECT user_id FROM {gold.user_profile} WHERE orders > 0;\n")
    views = view_definitions(settings)
    assert [v.name for v in views] == ["main.gold.buyers", "main.gold.hot_products"]
    assert views[0].statement == ("CREATE OR REPLACE VIEW main.gold.buyers AS\n"
                                  "SELECT user_id FROM main.analytics.people WHERE orders > 0")
    assert views[0].tables == ("main.analytics.people",)
    # the hot products view is the gold module's query over the configured product_metrics table
    assert views[1].tables == ("main.gold.product_metrics",)
    assert "FROM main.gold.product_metrics m CROSS JOIN bounds b" in views[1].statement
    assert "INTERVAL 24 HOURS" in views[1].statement


def test_bad_view_files_name_the_file_and_problem(settings):
    with pytest.raises(SettingsError, match=r"x\.sql: unknown table placeholder \{gold\.nope\} \(known: .*\{gold\.user_profile\}"):
        parse_view("CREATE OR REPLACE VIEW gold.v AS SELECT * FROM {gold.nope}", settings, "x.sql")
    with pytest.raises(SettingsError, match=r"y\.sql must hold one 'CREATE OR REPLACE VIEW schema\.name AS \.\.\.'"):
        parse_view("SELECT 1", settings, "y.sql")
    with pytest.raises(SettingsError, match="z.sql must hold one"):
        parse_view("CREATE OR REPLACE VIEW gold.v AS SELECT 1; DROP TABLE gold.user_profile", settings, "z.sql")


def test_project_view_files_parse(tmp_path):
    settings = make_settings(tmp_path, "localhost:9", "t", lakehouse={"catalog": "main"},
                             gold={"sql_dir": str(project_root() / "conf" / "sql")})[0]
    views = view_definitions(settings)
    assert [v.name for v in views] == ["main.gold.channel_conversion", "main.gold.daily_revenue",
                                       "main.gold.rfm_segments", "main.gold.top_customers", "main.gold.hot_products"]
    assert all("{" not in v.statement and v.tables and all(t.startswith("main.gold.") for t in v.tables)
               for v in views)


def test_report_text_and_self_contained_html(tmp_path):
    fig = figure(2, 2)
    fig.add_subplot().bar(["a"], [1])
    png = png_bytes(fig)
    assert png.startswith(PNG_SIGNATURE)
    report = Report("demo", "Demo <report>", ["people: 2"],
                    [Table("Numbers", ["name", "value"], [("a&b", 1.5)]), Chart("Bars", "bars", png)])
    assert report.text() == "Demo <report>\n=============\npeople: 2\n\nNumbers\nname  value\n----  -----\na&b     1.5"
    paths = report.write(tmp_path / "out")
    assert [p.name for p in paths] == ["demo-bars.png", "demo.html"]
    page = paths[1].read_text()
    assert "<title>Demo &lt;report&gt;</title>" in page and "<td>a&amp;b</td>" in page
    assert '<td class="num">1.5</td>' in page and 'src="data:image/png;base64,' in page


def test_duration_and_safe_name():
    assert [duration(s) for s in (None, 42, 95, 3725, 190_000)] == ["-", "42s", "1m 35s", "1h 02m", "2d 04h"]
    assert safe_name("a/b c@d.e") == "a_b_c_d.e"
