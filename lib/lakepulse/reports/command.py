"""``lakepulse report REPORT …``: print a report's tables and write its charts and HTML page.

    lakepulse report funnel --from 2026-01-01 --to 2026-01-07 --channel email
    lakepulse report funnel --live
    lakepulse report user u-42
    lakepulse report users --top 20
    lakepulse report products --top 10 --hours 24
    lakepulse report segments

Files go to ``gold.reports_dir`` (``--out`` overrides). Exit codes: 0 written, 1 the report cannot be
made (a gold table missing, an unknown user: one line on stderr).

A report is a module listed in :data:`REPORTS` exposing ``add_arguments(parser)`` and
``build(spark, settings, args) -> Report``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from lakepulse.settings import Settings

# report name -> (module, one-line help)
REPORTS = {
    "funnel": ("lakepulse.reports.funnel", "the e-commerce funnel: entered, converted and drop-off per step"),
    "user": ("lakepulse.reports.user", "one person's profile and hourly activity timeline"),
    "users": ("lakepulse.reports.users", "top buyers by revenue and the RFM segment distribution"),
    "products": ("lakepulse.reports.products", "hot products: the top N by trend score"),
    "segments": ("lakepulse.segments.report", "customer segments: sizes, revenue shares, centroids, quality"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``report`` sub-command's arguments: one sub-parser per report."""
    reports = parser.add_subparsers(dest="report", required=True, metavar="REPORT")
    for name, (module, help_text) in REPORTS.items():
        sub = reports.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(sub)
        sub.add_argument("--out", default=None, metavar="DIR", help="write the files here (default gold.reports_dir)")
        sub.set_defaults(_report_module=module)


def reports_dir(settings: Settings) -> Path:
    """Where reports are written: ``gold.reports_dir`` resolved against the project."""
    return Path(settings.resolve_path(settings.gold.reports_dir))


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Build the report, print it and the files written; 1 with one line on stderr on ReportError."""
    from lakepulse.reports.document import ReportError
    from lakepulse.spark import build_session

    spark = build_session(settings, f"report-{args.report}")
    try:
        report = importlib.import_module(args._report_module).build(spark, settings, args)
    except ReportError as exc:
        print(f"report {args.report}: {exc}", file=sys.stderr)
        return 1
    paths = report.write(Path(args.out) if args.out else reports_dir(settings))
    print(report.text())
    print()
    for path in paths:
        print(f"wrote {path}")
    return 0
