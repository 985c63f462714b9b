"""Floating-point dust (a retrained model identical to the champion but for BLAS's summation order: about 1e-15 per
prediction) is a tie: ``0 (equal)`` in the delta column, the reasons and the approvals page, never a signed
``-0.000000000000``, and no regression for a gate."""

from __future__ import annotations

import math

from airflow_provider_agentic_mlops.core.validation import Gates, build_report, shown_change


def test_a_difference_of_floating_point_dust_is_shown_as_equal():
    assert shown_change(0.1 + 0.2, 0.3) == "0 (equal)"
    assert shown_change(1.0067860298290001, 1.006786029829) == "0 (equal)"
    assert shown_change(2.0e6 + 1e-9, 2.0e6) == "0 (equal)"  # relative to the values: 5e-16 of them
    assert shown_change(0.880812, 0.880815) == "-0.000003" and shown_change(1e-11, 0.0) == "+0.00000000001"


def _report(challenger: float, champion: float, **gates):
    return build_report(
        model_name="m",
        gates=Gates(primary_metric="rmse", guard_metrics={"mae": 0.0}, **gates),
        challenger_version="2",
        challenger_metrics={"rmse": challenger, "mae": 0.8 + math.ulp(0.8), "r2": 0.9},
        champion_version="1",
        champion_metrics={"rmse": champion, "mae": 0.8, "r2": 0.9},
    )


def test_a_challenger_equal_to_the_champion_but_for_dust_is_a_tie_in_the_reasons_the_table_and_the_gates():
    champion = 1.006786029829
    for challenger in (champion + 2 * math.ulp(champion), champion - 2 * math.ulp(champion)):
        report = _report(challenger, champion)
        assert report.passed, report.reasons  # "not worse" and a guard tolerating nothing: a tie passes both
        primary = next(r for r in report.reasons if "primary" in r)
        assert "improvement 0 (equal)" in primary and "relative 0%" in primary, primary
        assert "0.000000000000" not in " ".join(report.reasons) + report.to_markdown()
        deltas = {m: delta for m, _, _, delta, _ in report._rows()}
        assert deltas["rmse"] == deltas["mae"] == "0 (equal)"
        assert not report.ungated


def test_the_approvals_page_shows_dust_as_equal_without_an_arrow():
    from airflow_provider_agentic_mlops.plugins.approvals_page import metric_rows

    (row,) = metric_rows({"champion_metrics": {"rmse": 0.3}, "challenger_metrics": {"rmse": 0.1 + 0.2}})
    assert (row["delta"], row["arrow"], row["direction"], row["direction_word"]) == ("0 (equal)", "", "", "")
