"""Census CSV: a group value a feed chose (a malware family) opens as text in a spreadsheet."""

from __future__ import annotations

import csv
import io

import pyarrow as pa

from botcensus.report.tables import write_csv


def test_census_csv_cells_that_would_run_as_formulas_are_text() -> None:
    table = pa.table({"malware_family": ["=cmd|' /C calc'!A0", "rustock"], "unique_ip": [3, -1]})
    out = io.StringIO()
    write_csv(table, out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[1:] == [["'=cmd|' /C calc'!A0", "3"], ["rustock", "-1"]]


def _printed(table: pa.Table, width: int) -> str:
    from rich.console import Console

    from botcensus.report.tables import census_columns, print_table

    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None)
    print_table(table, "Census", console, census_columns(table, "week", ("country",)))
    assert console.width == width  # the caller's console is left as it was
    return out.getvalue()


def _census(rows: int) -> pa.Table:
    import datetime as dt

    end = dt.date(2011, 3, 26)
    return pa.table(
        {
            "window_start": [end - dt.timedelta(days=6)] * rows,
            "window_end": [end] * rows,
            "days_covered": [7] * rows,
            "country": [f"C{i}" for i in range(rows)],
            "unique_ip": [123_456] * rows,
            "hosts_est": [None] * rows,
            "hosts_lo": [12_345.0] * rows,
            "hosts_hi": [234_567.0] * rows,
            "hosts_support": ["bounds"] * rows,
            "ips_hourly_avg": [4_567.0] * rows,
            "unique_ip_change": [-0.05] * rows,
            "partial": [False] * rows,
        }
    )


def test_a_table_wider_than_the_console_is_printed_whole() -> None:
    """At 80 columns (a pipe, cron) rich cut the cells of `census --estimate --by country`
    to "…" and squeezed the country column to nothing."""
    text = _printed(_census(3), 80)
    assert "…" not in text
    for cell in ("2011-03-26", "C0", "C2", "123,456", "12,345", "234,567", "bounds", "-5.0%"):
        assert cell in text


def test_a_table_that_fits_keeps_to_the_console() -> None:
    narrow = _census(2).select(["window_start", "window_end", "country", "unique_ip"])
    text = _printed(narrow, 80)
    assert max(len(line) for line in text.splitlines()) <= 80


def _on_terminal(table: pa.Table, width: int) -> str:
    from rich.console import Console

    from botcensus.report.tables import print_table

    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, force_terminal=True)
    print_table(table, "Census", console)
    return out.getvalue()


def test_on_a_narrow_terminal_cells_wrap_between_words_and_nothing_is_cut() -> None:
    """A terminal narrower than the table: printed at its own width, every line would wrap
    at the terminal's edge and the table fall apart; fitted by rich, numbers were cut."""
    table = _census(3).append_column("as_name", pa.array(["A LONG NETWORK NAME AS 64500"] * 3))
    text = _on_terminal(table.select(["window_end", "country", "as_name", "unique_ip",
                                      "hosts_lo", "hosts_hi", "hosts_support"]), 80)  # fmt: skip
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    for cell in ("2011-03-26", "C0", "C2", "123,456", "12,345", "234,567", "bounds", "NETWORK"):
        assert cell in text


def test_on_a_terminal_too_narrow_for_the_words_the_table_is_printed_whole() -> None:
    text = _on_terminal(_census(3), 30)
    assert "…" not in text
    for cell in ("2011-03-26", "C0", "123,456", "12,345", "234,567", "bounds"):
        assert cell in text


def test_names_from_the_data_are_printed_as_text_not_markup() -> None:
    """A feed's malware family "[/]" stopped the census table (rich's MarkupError), and
    "[link=...]" was taken as a hyperlink."""
    table = pa.table(
        {"malware_family": ["[/]", "[bold red]evil[/bold red]", "[link=http://x]y"],
         "unique_ip": [1, 2, 3]}
    )  # fmt: skip
    from rich.console import Console

    from botcensus.report.tables import print_table

    piped = io.StringIO()
    print_table(table, "Census [/]", Console(file=piped, width=80, color_system=None))
    assert "Census [/]" in piped.getvalue()
    for text in (piped.getvalue(), _on_terminal(table, 80)):
        assert "[/]" in text
        assert "[bold red]evil[/bold red]" in text
        assert "[link=http://x]y" in text
    assert "\x1b]8;" not in _on_terminal(table, 80)  # no hyperlink escape


def test_numbers_that_name_a_network_or_port_have_no_thousands_separator() -> None:
    """An ASN is a name ("AS3320"), not a count: "3,320" in the census by ASN, the clean-up
    by network and the report's network table; counts keep their separators."""
    from rich.console import Console

    from botcensus.report.html import table_html
    from botcensus.report.tables import print_table

    table = pa.table({"asn": [3320, 4_200_000_001], "group": [31334, 9121],
                      "destination_port": [8080, 443], "unique_ip": [12345, 2]})  # fmt: skip
    piped = io.StringIO()
    print_table(table, "by asn", Console(file=piped, width=120, color_system=None))
    page = table_html(table)
    for text in (piped.getvalue(), page):
        for name in ("3320", "4200000001", "31334", "8080", "12,345"):
            assert name in text
        for wrong in ("3,320", "4,200,000,001", "31,334", "8,080"):
            assert wrong not in text


def test_a_daily_table_shows_partial_only_where_a_day_is() -> None:
    """`census --window day` run today: today's few addresses read as a drop unless the
    table says the day is partial (it is not over); a table of whole days keeps its width."""
    import datetime as dt

    from botcensus.report.tables import census_columns

    days = [dt.date(2026, 12, 6), dt.date(2026, 12, 7)]
    table = pa.table(
        {
            "window_start": days,
            "window_end": days,
            "days_covered": [1, 0],
            "unique_ip": [6, 1],
            "unique_ip_change": [None, None],
            "partial": [False, True],
        }
    )
    assert census_columns(table, "day", ())[-1] == "partial"
    whole = table.set_column(5, "partial", pa.array([False, False]))
    assert "partial" not in census_columns(whole, "day", ())


def test_a_weekly_html_table_heads_its_first_day_as_the_week_s() -> None:
    """The trial: the report's week table headed the week's first day "day"."""
    import datetime as dt

    from botcensus.report.html import table_html

    start = dt.date(2026, 11, 29)
    weeks = pa.table({"window_start": [start], "window_end": [start + dt.timedelta(days=6)]})
    assert "<th>week starting</th><th>week ending</th>" in table_html(weeks)
    days = pa.table({"window_start": [start], "unique_ip": [3]})
    assert "<th>day</th>" in table_html(days)


def test_a_missing_group_value_is_unknown_as_on_the_dashboard_and_other_gaps_a_dash() -> None:
    """The trial: an address without a country was "—" in the CLI and report tables, "??"
    on the chart and "unknown" on the dashboard."""
    from rich.console import Console

    from botcensus.report.html import table_html
    from botcensus.report.tables import print_table

    table = pa.table({"country": ["DE", None], "asn": [None, 3320], "unique_ip": [5, 7],
                      "unique_ip_change": [0.5, None]})  # fmt: skip
    piped = io.StringIO()
    print_table(table, "by country", Console(file=piped, width=120, color_system=None))
    lines = piped.getvalue().splitlines()
    assert any("DE" in line and "unknown" in line and "+50.0%" in line for line in lines)
    assert any("unknown" in line and "3320" in line and "—" in line for line in lines)
    page = table_html(table)
    assert page.count(">unknown<") == 2
    assert page.count(">—<") == 1  # the change that has no earlier window


def test_the_chart_names_a_country_missing_as_unknown() -> None:
    import datetime as dt

    from botcensus.report.charts import stacked_weeks

    end = dt.date(2011, 3, 26)
    counts = pa.table({"window_end": [end, end], "country": ["IN", None], "unique_ip": [9, 4]})
    weeks = stacked_weeks(counts, top=5)
    assert weeks.series["unknown"] == [4.0]
    assert "??" not in weeks.series
