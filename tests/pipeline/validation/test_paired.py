"""Paired differences on hand-made data: known shifts, identical inputs, one-class changes, refusals."""

import numpy as np
import pandas as pd
import pytest

from pipeline.validation.paired import (
    MismatchError,
    PairedRows,
    check_same_rows,
    paired_difference,
    per_class_differences,
)


def rows_with(loss_b_of, n=3000, seed=0, n_classes=3, groups=None):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    loss_a = rng.exponential(0.4, n)
    return PairedRows(
        loss_a,
        loss_b_of(loss_a, labels, rng),
        labels,
        np.arange(n) % 5,
        np.arange(n) if groups is None else groups,
    )


def test_a_known_shift_lies_inside_the_interval_and_is_called_better():
    rows = rows_with(lambda a, labels, rng: a - 0.01 + rng.normal(0, 0.05, len(a)))
    difference = paired_difference(rows)
    assert difference.low < -0.01 < difference.high
    assert difference.mean == pytest.approx(-0.01, abs=3 * difference.standard_error)
    assert difference.verdict() == "better" and len(difference.per_fold) == 5


def test_identical_inputs_give_zero_and_within_noise():
    rows = rows_with(lambda a, labels, rng: a.copy())
    difference = paired_difference(rows)
    assert difference.mean == difference.low == difference.high == 0.0
    assert difference.verdict() == "within noise" and difference.per_fold == (0.0,) * 5


def test_a_change_confined_to_one_class_shows_in_that_class_only():
    rows = rows_with(lambda a, labels, rng: np.where(labels == 1, a + 0.2, a))
    per_class = per_class_differences(rows, ["A", "B", "C"])
    assert per_class["B"].mean == pytest.approx(0.2) and per_class["B"].verdict() == "worse"
    assert per_class["A"].mean == per_class["C"].mean == 0.0
    assert per_class["A"].verdict() == per_class["C"].verdict() == "within noise"


def test_noise_far_larger_than_the_shift_is_within_noise_and_seed_spread_can_say_so():
    rows = rows_with(lambda a, labels, rng: a + 0.001 + rng.normal(0, 1.0, len(a)), n=500)
    assert paired_difference(rows).verdict() == "within noise"
    clear = paired_difference(rows_with(lambda a, labels, rng: a - 0.05))
    assert clear.verdict() == "better" and clear.verdict(seed_spread=0.1) == "within seed noise"


def test_copies_count_as_one_object_in_the_bootstrap():
    """50 objects seen 60 times each: as 3,000 independent rows the interval would be far too narrow."""
    per_object = np.random.default_rng(1).normal(0, 0.3, 50)
    copies = lambda a, labels, rng: a + np.repeat(per_object, 60)  # noqa: E731
    as_rows = paired_difference(rows_with(copies))
    as_objects = paired_difference(rows_with(copies, groups=np.arange(3000) // 60))
    assert as_objects.high - as_objects.low > 4 * (as_rows.high - as_rows.low)
    assert as_objects.groups == 50 and as_rows.groups == 3000


def test_results_on_other_rows_or_folds_are_refused():
    index = pd.Index([1, 2, 3])
    check_same_rows(index, pd.Index([3, 2, 1]), [0, 1, 2], [0, 1, 2])
    with pytest.raises(MismatchError, match="different rows"):
        check_same_rows(index, pd.Index([1, 2, 4]), [0, 1, 2], [0, 1, 2])
    with pytest.raises(MismatchError, match="different folds"):
        check_same_rows(index, index, [0, 1, 2], [0, 2, 1])


def test_a_class_with_few_objects_gets_no_verdict():
    rows = rows_with(lambda a, labels, rng: a + 1.0, n=40, n_classes=2)
    assert all(d.verdict() == "too few rows" for d in per_class_differences(rows, ["A", "B"]).values())
