"""The table model: each builder on small hand-made frames, dicts and records, and the three
renderings (rich, HTML, Markdown) of one table showing the same cells."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from harness.records.baselines import BaselineInfo
from harness.records.frames import cells_frame
from harness.report import console, efficiency, html, listings, markdown, tables, verdicts
from harness.report.tables import STYLES, Cell, Column, Table
from harness.stats import TimingTestName


def _cell(backend: str, median: float | None, **fields) -> dict:
    """A results-file cell of plugin ``toy`` on the CPU; ``median=None``: it did not run."""
    cell = {"plugin": "toy", "backend": backend, "device": "cpu", "dataset": "synthetic"}
    cell |= {"status": "ok", "error": None, "params": {"total": fields.pop("total", 100)}}
    cell["metrics"] = {"test_accuracy": 0.5}
    if median is not None:
        step = {"median": median, "cv": fields.pop("cv", 0.05), "n_processes": 3}
        step |= {"ci_low": median * 0.9, "ci_high": median * 1.1, "spread_of": "processes"}
        cell["step_time_ms"] = step
    return cell | fields


def _frame(*cells: dict) -> pd.DataFrame:
    return cells_frame({"cells": list(cells)})


def _row(table: Table, first: str) -> tuple[Cell, ...]:
    return next(row for row in table.rows if row[0].text == first)


def test_the_results_table_marks_the_fastest_cell_of_a_row():
    table = tables.results_table(_frame(_cell("jax", 2.0), _cell("torch", 1.0)))
    assert [c.label for c in table.columns] == [
        "plugin", "params", "jax/cpu ms", "jax/cpu acc", "torch/cpu ms", "torch/cpu acc"
    ]  # fmt: skip
    plugin, params, jax_ms, jax_acc, torch_ms, _ = table.rows[0]
    assert (plugin.text, params.text, jax_acc.text) == ("toy", "100", "0.500")
    assert (jax_ms.text, jax_ms.style) == ("2.00", "")
    assert (torch_ms.text, torch_ms.style) == ("*1.00", "best")
    alone = tables.results_table(_frame(_cell("jax", 2.0)))
    assert alone.rows[0][2].text == "2.00"  # nothing to be fastest against


def test_the_results_caption_names_a_teardown_that_adds_to_each_step():
    def cell(backend: str, teardown: float | None) -> dict:
        made = _cell(backend, 2.0)
        made["step_time_ms"]["teardown_ms_per_step"] = teardown
        return made

    quiet = tables.results_table(_frame(cell("jax", 0.01), cell("torch", None)))
    assert "teardown" not in quiet.caption  # 0.5% of a step, or not recorded
    noisy = tables.results_table(_frame(cell("jax", 0.01), cell("tensorflow", 0.3)))
    assert "toy/tensorflow/cpu +0.3 ms (+15%)" in noisy.caption
    assert "toy/jax" not in noisy.caption


def test_the_results_table_marks_a_spread_too_wide_to_trust():
    wide = tables.WIDE_CV + 0.01
    table = tables.results_table(_frame(_cell("jax", 2.0, cv=wide), _cell("torch", 1.0, cv=wide)))
    assert [(c.text, c.style) for c in table.rows[0][2::2]] == [
        ("~2.00", "wide"),
        ("~*1.00", "wide"),
    ]


def test_the_results_table_lists_every_count_when_the_parameters_differ():
    table = tables.results_table(_frame(_cell("jax", 2.0), _cell("tensorflow", 1.0, total=101)))
    params = table.rows[0][1]
    assert params == Cell("differ: jax/cpu=100 tensorflow/cpu=101", "bad")
    assert table.columns[4].group == "tf/cpu"


def test_a_failed_cell_shows_its_status_and_is_listed_with_its_reason():
    failed = _cell("torch", None, status="failed", error="boom")
    frame = _frame(_cell("jax", 2.0), failed)
    assert tables.results_table(frame).rows[0][4] == Cell("failed", "bad")
    problems = tables.problems_table(frame)
    assert problems is not None
    assert problems.rows == ((Cell("toy/torch/cpu"), Cell("failed", "bad"), Cell("boom")),)
    assert tables.problems_table(_frame(_cell("jax", 2.0))) is None


def test_the_statistics_table_gives_the_interval_and_what_the_cv_is_across():
    windows = _cell("torch", 4.0)
    windows["step_time_ms"] |= {"spread_of": "windows", "ci_low": None, "ci_high": None}
    table = tables.statistics_table(_frame(_cell("jax", 2.0, samples_per_s=1234.5), windows))
    assert table.texts() == (
        ("toy/jax/cpu", "2.000", "1.800-2.200", "5.0%", "3", "1,234"),
        ("toy/torch/cpu", "4.000", "-", "5.0% w", "3", ""),
    )


COMPARISON = {
    "rule": {"alpha": 0.01, "threshold": 0.05, "looks": 2},
    "a": {"label": "main"},
    "b": {"label": "branch"},
    "cells": [
        {
            **{"key": "toy/jax/cpu", "plugin": "toy", "backend": "jax", "device": "cpu"},
            **{"verdict": "regression", "reason": "", "a_median_ms": 1.0, "b_median_ms": 1.2},
            **{"ratio": 1.2, "ratio_ci_low": 1.1, "ratio_ci_high": 1.3, "p_adjusted": 0.004},
            **{"n_a": 5, "n_b": 5, "detectable_slowdown": 0.08, "a_samples": [1.0]},
        },
        {
            **{"key": "toy/torch/cpu", "plugin": "toy", "backend": "torch", "device": "cpu"},
            **{"verdict": "same", "reason": "", "a_median_ms": 1.0, "b_median_ms": 1.0},
            **{"ratio": 1.0, "p_adjusted": 0.9, "n_a": 1, "n_b": 1},
        },
        {
            **{"key": "cnn/jax/cpu", "plugin": "cnn", "backend": "jax", "device": "cpu"},
            **{"verdict": "new", "reason": "not in A", "b_median_ms": 4.0, "n_b": 3},
        },
    ],
}


def test_the_comparison_caption_names_the_estimator_that_goes_with_the_test():
    paired = {**COMPARISON, "rule": {**COMPARISON["rule"], "test": TimingTestName.PAIRED.value}}
    assert "Mann-Whitney U on per-process medians" in verdicts.comparison_table(COMPARISON).caption
    caption = verdicts.comparison_table(paired).caption
    assert "signed-rank" in caption
    assert "B/A: Hodges-Lehmann estimate of the pair ratios" in caption


def test_the_comparison_table_has_a_row_per_cell_from_the_comparison_dict():
    table = verdicts.comparison_table(COMPARISON)
    assert table.title == "A: main  vs  B: branch"
    assert "p < 0.01 per look" in table.caption
    assert "ratio > 1.05" in table.caption
    regression, same, new = table.rows
    assert tuple(c.text for c in regression) == (
        "toy/jax/cpu", "1.000", "1.200", "1.200", "1.100-1.300", "5/5", "0.004", "8%",
        "regression", "",
    )  # fmt: skip
    assert regression[8].style == "bad"
    assert same[7].text == "never"  # tested, but no slowdown would be flagged
    assert [c.text for c in new] == [
        "cnn/jax/cpu",
        "",
        "4.000",
        "",
        "",
        "0/3",
        "",
        "",
        "new",
        "not in A",
    ]


PARITY = {
    "backends": ["jax", "tensorflow", "torch"],
    "steps": 5,
    "tolerances": {"forward": 1e-4, "training": 1e-2, "first_loss": 1e-4},
    "passed": False,
    "results": [
        {"plugin": "mlp", "check": "forward", "pair": "jax~tensorflow", "status": "pass"}
        | {"measured": 1.5e-7, "tolerance": 1e-4, "detail": "max abs diff"},
        {"plugin": "mlp", "check": "forward", "pair": "jax~torch", "status": "fail"}
        | {"measured": 0.5, "tolerance": 1e-4, "detail": "max abs diff"},
        {"plugin": "mlp", "check": "training", "pair": "jax~torch", "status": "pass"}
        | {"measured": 0.01, "tolerance": 0.05, "detail": "the plugin's stated tolerance"},
        {"plugin": "cnn", "check": "portability", "pair": "jax->torch", "status": "unavailable"}
        | {"measured": None, "tolerance": None, "detail": "torch is not installed"},
    ],
}


def test_the_parity_table_stacks_each_checks_backend_pairs():
    table = verdicts.parity_table(PARITY)
    assert table.title == "Cross-backend parity (reference: jax)"
    assert [c.header for c in table.columns] == ["plugin", *verdicts.PARITY_CHECKS]
    mlp = _row(table, "mlp")
    forward = mlp[2]
    assert forward.text == "tf ok 1.5e-07\ntorch FAIL 5.0e-01"
    assert [line.style for line in forward.parts()] == ["ok", "bad"]
    assert mlp[4].text == "torch ok 1.0e-02 (tol 0.05)"  # the plugin's own tolerance, shown
    assert _row(table, "cnn")[3] == Cell.stack([Cell("jax>torch unavailable", "warn")])
    assert table.breaks == {0, 1}


def test_the_parity_checks_table_keeps_every_detail_or_only_the_failures():
    assert len(verdicts.parity_checks_table(PARITY).rows) == 4
    failed = verdicts.parity_checks_table(PARITY, failed_only=True)
    assert failed.texts() == (
        ("mlp", "forward", "jax~torch", "fail", "0.5", "0.0001", "max abs diff"),
    )


def test_the_catalogue_names_each_family_once_and_ends_a_section_with_it():
    plugins = [
        {"family": "mlp", "name": "a", "description": "x", "params": {"total": 1_000}},
        {"family": "mlp", "name": "b", "description": "y", "params": None, "input": "flat"},
        {"family": "cnn", "name": "c", "description": "z", "input": "float32 (4,) -> binary",
         "unavailable": "needs hub (pip install hub): not importable by python"},
    ]  # fmt: skip
    table = listings.catalogue_table(plugins, "jax")
    assert table.title == "Plugins (parameters as built on jax)"
    assert [row[:4] for row in table.texts()] == [
        ("mlp", "a", "", "1,000"),
        ("", "b", "flat dataset -> classification of 10", "?"),
        ("cnn", "c", "float32 (4,) -> binary [needs hub (pip install hub)]", "?"),
    ]
    assert table.breaks == {1, 2}
    assert len(listings.catalogue_table(plugins, None, descriptions=False).columns) == 6


def test_the_baselines_table_has_a_row_per_baseline():
    info = BaselineInfo(
        "main", Path("m.json"), "2026-01-01", "r.json", 4, "quick", "mnist", "cpu", "3.8", 5
    )
    table = listings.baselines_table([info])
    assert table.texts() == (("main", "2026-01-01", "4", "5", "quick", "mnist", "3.8", "cpu"),)


# --- the three renderings -----------------------------------------------------------------------


def _rich_texts(table: Table) -> list[list[str]]:
    rendered = console.render(table)
    columns = [[cell.plain for cell in column.cells] for column in rendered.columns]
    return [list(row) for row in zip(*columns, strict=True)]


class _Cells(HTMLParser):
    """The text of every ``td``, row by row; ``<br>`` as a new line."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.inside = False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self.rows[-1].append("")
            self.inside = True
        elif tag == "br" and self.inside:
            self.rows[-1][-1] += "\n"

    def handle_endtag(self, tag):
        self.inside = self.inside and tag != "td"

    def handle_data(self, data):
        if self.inside:
            self.rows[-1][-1] += data


def _html_texts(table: Table) -> list[list[str]]:
    parser = _Cells()
    parser.feed(html.table(table))
    return [row for row in parser.rows if row]


def _markdown_texts(table: Table) -> list[list[str]]:
    lines = [line for line in markdown.table(table).splitlines() if line.startswith("| ")]
    rows = [re.split(r" \| ", line[2:-2]) for line in lines[2:]]  # after the header and rule
    return [[cell.strip().replace("<br>", "\n") for cell in row] for row in rows]


@pytest.mark.parametrize(
    "build",
    [
        lambda: tables.results_table(
            _frame(_cell("jax", 2.0), _cell("tensorflow", 1.0, total=7), _cell("torch", None))
        ),
        lambda: verdicts.parity_table(PARITY),
        lambda: verdicts.comparison_table(COMPARISON),
    ],
    ids=["results", "parity", "comparison"],
)
def test_rich_html_and_markdown_show_the_same_cells(build):
    table = build()
    expected = [list(row) for row in table.texts()]
    assert _rich_texts(table) == expected
    assert _html_texts(table) == expected
    assert _markdown_texts(table) == expected


def test_every_style_has_a_rich_style_and_a_css_class():
    assert set(console.RICH_STYLES) == set(STYLES)
    assert all(f".s-{style}" in html._CSS for style in STYLES)


def test_grouped_columns_get_two_line_headers_in_the_console_and_spans_in_html():
    table = tables.results_table(_frame(_cell("jax", 2.0), _cell("tensorflow", 1.0)))
    headers = [str(column.header) for column in console.render(table).columns]
    assert headers[:4] == ["\nplugin", "\nparams", "jax/cpu\nms", "\nacc"]
    assert '<th colspan="2">tf/cpu</th>' in html.table(table)
    assert "| plugin | params | jax/cpu ms | jax/cpu acc | tf/cpu ms |" in markdown.table(table)


def test_text_from_records_is_never_markup_and_never_html():
    table = Table("[bold]t[/]", (Column("a"),), ((Cell("[red]x[/] <b>&"),),), "c|d")
    out = Console(record=True, width=80)
    out.print(console.render(table))
    text = out.export_text()
    assert "[bold]t[/]" in text
    assert "[red]x[/] <b>&" in text
    assert "[red]x[/] &lt;b&gt;&amp;" in html.table(table)
    assert "c\\|d" in markdown.table(table)


def test_an_accuracy_no_better_than_chance_is_marked_not_yet_meaningful():
    chance = {"test_accuracy": 0.104, "chance_accuracy": 0.114}
    learned = {"test_accuracy": 0.82, "chance_accuracy": 0.114}
    table = tables.results_table(
        _frame(_cell("jax", 2.0, metrics=chance), _cell("torch", 3.0, metrics=learned))
    )
    jax_acc, torch_acc = _row(table, "toy")[3], _row(table, "toy")[5]
    assert (jax_acc.text, jax_acc.style) == ("0.104?", "warn")
    assert torch_acc.text == "0.820"
    assert "not yet meaningful" in table.caption


def test_the_results_caption_says_which_malloc_the_figures_ran_with():
    fixed = cells_frame({"config": {"malloc": "fixed"}, "cells": [_cell("jax", 2.0)]})
    assert "--malloc fixed" in tables.results_table(fixed).caption
    older = cells_frame({"config": {}, "cells": [_cell("jax", 2.0)]})  # before the setting
    assert "--malloc system" in tables.results_table(older).caption
    assert "not yet meaningful" not in tables.results_table(older).caption


def _counted(backend: str, median: float, peak: float, **fields) -> dict:
    """A timed cell of ``toy`` with 2e8 FLOPs a step and a measured matmul peak."""
    flops = {"total": 2e8, "forward": 1e8, "backward": 0.8e8, "loss": 0.0, "optimizer": 0.2e8}
    flops |= {"bytes_moved": 1e7, "batch_size": 32}
    rate = {"kernel": "matmul", "label": "square", "shape": [1024, 1024, 1024]}
    rate |= {"dtype": "float32", "seconds": 0.01, "reps": 3, "rate": peak}
    memory = {**rate, "kernel": "stream", "label": "memory", "shape": [8], "rate": 20.0}
    peak_block = {"matmul": [rate], "memory": memory, "method": "m", "seconds": 0.4}
    return _cell(backend, median, flops=flops, peak=peak_block, **fields)


def test_achieved_gflops_and_the_share_of_the_devices_best_measured_peak():
    frame = _frame(_counted("jax", 2.0, peak=200.0), _counted("torch", 4.0, peak=400.0))
    assert list(frame["gflops"]) == pytest.approx([100.0, 50.0])
    assert list(frame["peak_gflops"]) == pytest.approx([200.0, 400.0])
    assert list(frame["share_of_peak"]) == pytest.approx([0.25, 0.125])  # of the best: 400
    assert list(frame["flop_per_byte"]) == pytest.approx([20.0, 20.0])
    table = tables.results_table(frame)
    assert [c.label for c in table.columns][2:5] == ["jax/cpu ms", "jax/cpu acc", "jax/cpu GFLOP/s"]
    assert [table.rows[0][i].text for i in (4, 7)] == ["100 (25%)", "50.0 (12%)"]
    assert "docs/efficiency.md" in table.caption
    assert "GFLOP/s" not in tables.results_table(_frame(_cell("jax", 2.0))).caption


def test_the_efficiency_and_peak_tables_show_every_counted_cell():
    run = {"cells": [_counted("jax", 2.0, peak=200.0), _cell("torch", 3.0)]}
    table = efficiency.efficiency_table(cells_frame(run))
    assert table is not None
    assert table.texts() == (("toy/jax/cpu", "200.0", "50/40/0/10 %", "100 (50%)", "20.0", "200"),)
    peaks = efficiency.peak_table(run)
    assert peaks is not None
    assert peaks.texts() == (("toy/jax/cpu", "200 (1024x1024x1024 f32)", "", "20.0", "0.40"),)
    assert efficiency.efficiency_table(_frame(_cell("jax", 2.0))) is None
    assert efficiency.peak_table({"cells": [_cell("jax", 2.0)]}) is None


def test_a_quality_figure_other_than_accuracy_is_labelled_by_its_name():
    mae = {"name": "mae", "value": 0.1534, "higher_is_better": False}
    regression = _cell("jax", 2.0, quality=mae)
    regression["metrics"] = {"test_loss": 0.04, "test_mae": 0.1534}  # no test_accuracy
    classifier = _cell("torch", 1.0) | {"plugin": "toy_text"}
    table = tables.results_table(_frame(regression, classifier))
    assert [c.label for c in table.columns][2:4] == ["jax/cpu ms", "jax/cpu quality"]
    assert _row(table, "toy")[3].text == "mae 0.153"
    assert _row(table, "toy_text")[5].text == "0.500"
    assert "quality: test accuracy, or the test figure named (mae)" in table.caption
    assert table.title.endswith("and test quality")
    plain = tables.results_table(_frame(_cell("jax", 2.0)))
    assert plain.title.endswith("and test accuracy")
    assert "acc: test accuracy" in plain.caption
    frame = _frame(regression, classifier)
    assert list(frame["quality_name"]) == ["mae", "accuracy"]
    assert list(frame["quality_higher_is_better"]) == [False, True]
