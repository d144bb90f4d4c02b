"""Renderers: tables, files and pages built from results; they compute nothing new."""

from botcensus.report.events import CSV_COLUMNS, intelmq_events, write_csv, write_jsonl

__all__ = ["CSV_COLUMNS", "intelmq_events", "write_csv", "write_jsonl"]
