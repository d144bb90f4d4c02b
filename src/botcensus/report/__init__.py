"""Renderers: tables, files and pages built from results; they compute nothing new."""

from botcensus.report.events import CSV_COLUMNS, intelmq_events, write_csv, write_jsonl
from botcensus.report.page import ReportFiles, write_report

__all__ = [
    "CSV_COLUMNS",
    "ReportFiles",
    "intelmq_events",
    "write_csv",
    "write_jsonl",
    "write_report",
]
