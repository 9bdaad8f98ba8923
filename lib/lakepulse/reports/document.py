"""A report as data: key figures, tables and charts, shown as text and written as PNG + HTML.

The HTML page is self-contained (charts embedded as ``data:image/png;base64`` URIs, inline CSS, no
scripts or external assets), so it can be mailed or attached to a ticket as one file. Charts are
drawn with matplotlib's object API on the Agg canvas (no pyplot, no display needed).

Example::

    report = Report("products", "Hot products", summary=["24 h window"],
                    blocks=[Table("Top 10", ["product", "score"], [("p-1", 3.2)])])
    print(report.text())
    paths = report.write(Path("/tmp/reports"))   # [..., /tmp/reports/products.html]
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakepulse.sql import format_table, format_value, is_numeric
from lakepulse.tables import table_ref

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from pyspark.sql import DataFrame, SparkSession

    from lakepulse.settings import Settings

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ReportError(Exception):
    """The report cannot be made (a table missing, an unknown user); the message is one line."""


@dataclass(frozen=True)
class Table:
    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]


@dataclass(frozen=True)
class Chart:
    title: str
    slug: str    # file name part: <report>-<slug>.png
    png: bytes


@dataclass
class Report:
    """``name`` is the file stem (``funnel`` → ``funnel.html``, ``funnel-<chart>.png``)."""

    name: str
    title: str
    summary: list[str] = field(default_factory=list)
    blocks: list[Table | Chart] = field(default_factory=list)

    def text(self) -> str:
        """Title, key figures and every table as aligned text (charts are listed by file)."""
        parts = [self.title, "=" * len(self.title), *self.summary]
        for block in self.blocks:
            if isinstance(block, Table):
                parts += ["", block.title, format_table(block.columns, block.rows)]
        return "\n".join(parts)

    def chart_path(self, folder: Path, chart: Chart) -> Path:
        return folder / f"{self.name}-{chart.slug}.png"

    def write(self, folder: Path) -> list[Path]:
        """Write each chart as PNG and the HTML page into ``folder`` (created if needed); returns the
        paths written, the PNGs first and the HTML page last."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for chart in self.charts:
            path = self.chart_path(folder, chart)
            path.write_bytes(chart.png)
            paths.append(path)
        page = folder / f"{self.name}.html"
        page.write_text(self.html(), encoding="utf-8")
        return paths + [page]

    @property
    def charts(self) -> list[Chart]:
        return [b for b in self.blocks if isinstance(b, Chart)]

    def html(self) -> str:
        """The self-contained HTML page."""
        generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        body = [f"<h1>{html.escape(self.title)}</h1>", f'<p class="meta">Lakepulse report, generated {generated}</p>']
        if self.summary:
            body.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in self.summary) + "</ul>")
        for block in self.blocks:
            body.append(f"<h2>{html.escape(block.title)}</h2>")
            if isinstance(block, Chart):
                data = base64.b64encode(block.png).decode("ascii")
                body.append(f'<img alt="{html.escape(block.title)}" src="data:image/png;base64,{data}">')
            else:
                body.append(_html_table(block))
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(self.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n"
        )


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin-bottom:1.5em}"
    "th,td{border:1px solid #ccc;padding:.25em .6em}th{background:#f3f3f3;text-align:left}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}"
    "img{max-width:100%}.meta{color:#777}"
)


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for row in table.rows:
        cells = []
        for value in row:
            numeric = ' class="num"' if is_numeric(value) else ""
            cells.append(f"<td{numeric}>{html.escape(format_value(value))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"


def money(value: float | None) -> str:
    """``1234.5`` → ``1,234.50``; ``None`` → ``-``."""
    return "-" if value is None else f"{value:,.2f}"


def percent(value: float | None, decimals: int = 1) -> str:
    """``0.375`` → ``37.5%``; ``None`` → ``-``."""
    return "-" if value is None else f"{value * 100:.{decimals}f}%"


def figure(width: float = 8.0, height: float = 4.5) -> Figure:
    """A matplotlib Figure on the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes (no timestamp or software metadata, so equal charts are equal files)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def safe_name(text: str) -> str:
    """``text`` usable in a file name: anything but letters, digits, ``.``, ``_``, ``-`` becomes ``_``."""
    return re.sub(r"[^\w.\-]", "_", text)[:120] or "_"


def read_table(spark: SparkSession, settings: Settings, logical_name: str) -> DataFrame:
    """The Delta table ``logical_name`` (``gold.user_profile``, as in settings) read by path;
    ReportError when the table does not exist yet."""
    from delta.tables import DeltaTable

    ref = table_ref(settings, logical_name)
    if not DeltaTable.isDeltaTable(spark, ref.path):
        raise ReportError(f"{ref.name} does not exist yet ({ref.path}): run the gold job first")
    return spark.read.format("delta").load(ref.path)
