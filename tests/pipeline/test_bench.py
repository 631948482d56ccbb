"""The benchmark's arithmetic and memory probe (the benchmark itself is run by hand, not in tests)."""

import numpy as np
import pytest

from pipeline.bench import PeakMemory, Row, format_rows, goal_lines, growth_exponents


def table(lgbm_seconds, plain_seconds):
    rows = []
    for n, scale in ((50_000, 1.0), (100_000, 2.0), (200_000, 4.0)):
        rows += [
            Row("lgbm", n, lgbm_seconds * scale, 900.0, "no"),
            Row("mlp", n, 10.0 * scale**1.5, 800.0, "no"),
            Row("plain lgb.train loop", n, plain_seconds * scale, 700.0, "no"),
            Row("all (sum of stages)", n, (lgbm_seconds + 10) * scale, 900.0, "no"),
            Row("rerun --stage blend (command)", n, 2.0, float("nan"), "yes"),
            Row("rerun --stage report (command)", n, 2.5, float("nan"), "yes"),
        ]
    return rows


def test_growth_exponent_is_the_log_log_slope_on_the_largest_size():
    rows = table(10.0, 10.0)
    growth_exponents(rows)
    biggest = {r.stage: r.exponent for r in rows if r.rows == 200_000}
    assert biggest["lgbm"] == pytest.approx(1.0)
    assert biggest["mlp"] == pytest.approx(1.5)
    assert all(np.isnan(r.exponent) for r in rows if r.rows < 200_000)
    assert "| lgbm | 200,000 | 40.0 | 900 | no | 1.00 |" in format_rows(rows)


def test_goals_say_met_or_not_met():
    rows = table(11.5, 10.0)
    growth_exponents(rows)
    lines = goal_lines(rows)
    assert "1.15 (goal <= 1.10): NOT met" in lines[2]
    assert "2.0 s / 2.5 s (goal <= 3): met" in lines[1]
    assert "1.50" in lines[4] and "NOT met" in lines[4]


def test_peak_memory_sees_an_allocation():
    with PeakMemory() as before:
        pass
    with PeakMemory() as during:
        block = np.ones(200 * 2**20 // 8)
        block.sum()
    assert during.peak - before.peak > 100 * 2**20
