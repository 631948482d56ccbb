"""Bad input is one clear DataError naming file, column and line; hostile but valid data loads."""

import numpy as np
import pandas as pd
import pytest

from pipeline.data.loading import load_dataset
from pipeline.engine.errors import DataError


def rewrite(directory, name, edit):
    """Apply ``edit`` to one of the three CSVs as a DataFrame and write it back."""
    path = directory / name
    frame = pd.read_csv(path)
    frame = edit(frame)
    frame.to_csv(path, index=False)


def error_of(directory) -> DataError:
    with pytest.raises(DataError) as caught:
        load_dataset(directory)
    assert "\n" not in str(caught.value)
    return caught.value


def test_sample_written_to_disk_loads_back(sample_dir, tiny_data):
    loaded = load_dataset(sample_dir)
    pd.testing.assert_frame_equal(loaded.train, tiny_data.train)
    assert loaded.classes == tiny_data.classes
    assert loaded.test.index.tolist() == pd.read_csv(sample_dir / "sample_submission.csv")["id"].tolist()


def test_missing_file(sample_dir):
    (sample_dir / "test.csv").unlink()
    error = error_of(sample_dir)
    assert error.file.endswith("test.csv") and "not found" in str(error)


def test_empty_file(sample_dir):
    (sample_dir / "train.csv").write_text("")
    assert "empty" in str(error_of(sample_dir))


def test_missing_column_is_named(sample_dir):
    rewrite(sample_dir, "train.csv", lambda f: f.rename(columns={"psfMag_g": "psfMag_gg"}))
    error = error_of(sample_dir)
    assert error.column == "psfMag_g" and error.line == 1


def test_unknown_extra_column_is_a_warning(sample_dir):
    rewrite(sample_dir, "test.csv", lambda f: f.assign(note="x"))
    with pytest.warns(UserWarning, match="note"):
        load_dataset(sample_dir)


@pytest.mark.parametrize("bad, words", [("abc", "not a number"), (np.nan, "missing"), (np.inf, "infinite")])
def test_bad_magnitude_names_column_and_line(sample_dir, bad, words):
    def edit(frame):
        frame["modelMag_r"] = frame["modelMag_r"].astype(object)
        frame.loc[7, "modelMag_r"] = bad
        return frame

    rewrite(sample_dir, "train.csv", edit)
    error = error_of(sample_dir)
    assert (error.column, error.line) == ("modelMag_r", 9)
    assert words in str(error)


def test_duplicated_ids(sample_dir):
    rewrite(sample_dir, "train.csv", lambda f: f.assign(id=f["id"].where(f.index != 5, f["id"].iloc[4])))
    error = error_of(sample_dir)
    assert (error.column, error.line) == ("id", 7) and "duplicated" in str(error)


def test_test_ids_differ_from_sample_submission(sample_dir):
    replaced = pd.read_csv(sample_dir / "test.csv")["id"].iloc[3]
    rewrite(sample_dir, "test.csv", lambda f: f.assign(id=f["id"].where(f.index != 3, 10**8)))
    error = error_of(sample_dir)
    assert error.file.endswith("sample_submission.csv") and error.column == "id"
    assert f"id {replaced} has no row" in str(error)


def test_unknown_label(sample_dir):
    rewrite(sample_dir, "train.csv", lambda f: f.assign(type=f["type"].where(f.index != 2, "UFO")))
    error = error_of(sample_dir)
    assert (error.column, error.line) == ("type", 4) and "UFO" in str(error)


def test_sample_submission_with_wrong_classes(sample_dir):
    rewrite(sample_dir, "sample_submission.csv", lambda f: f.rename(columns={"QSO": "QUASAR"}))
    error = error_of(sample_dir)
    assert error.column == "QUASAR"


def test_not_utf8(sample_dir):
    (sample_dir / "train.csv").write_bytes("id,type\n1,\xe9toile\n".encode("latin-1"))
    assert "UTF-8" in str(error_of(sample_dir))


def test_not_csv(sample_dir):
    (sample_dir / "test.csv").write_text('id,fiberID\n1,2\n3,4,5,6\n"unterminated\n')
    assert "CSV" in str(error_of(sample_dir))


def test_hostile_but_valid_data_loads(sample_dir):
    def edit(frame):
        frame.loc[0, "psfMag_u"] = -5_310_802.0
        frame.loc[1, "petroMag_g"] = 1e6
        frame.loc[2, frame.columns[2:]] = frame.loc[3, frame.columns[2:]]  # duplicated feature row
        return frame

    rewrite(sample_dir, "train.csv", edit)
    rewrite(sample_dir, "test.csv", lambda f: f.assign(fiberID=f["fiberID"].where(f.index != 0, 1200)))
    with pytest.warns(UserWarning, match="fiberID outside"):
        data = load_dataset(sample_dir)
    assert data.train["psfMag_u"].min() == -5_310_802.0


def test_classes_follow_the_sample_submission_order(sample_dir):
    rewrite(sample_dir, "sample_submission.csv", lambda f: f[["id", *reversed(f.columns[1:])]])
    data = load_dataset(sample_dir)
    assert data.classes == tuple(pd.read_csv(sample_dir / "sample_submission.csv").columns[1:])
    assert data.classes[-1] == "STAR_WHITE_DWARF"
    names = pd.read_csv(sample_dir / "train.csv")["type"].to_numpy()
    assert [data.classes[c] for c in data.labels] == list(names)


def set_ids(directory, name, ids):
    """Replace the id column of one CSV by these texts, written as they are."""
    path = directory / name
    frame = pd.read_csv(path, dtype={"id": str})
    frame["id"] = ids
    frame.to_csv(path, index=False)


def test_ids_above_2_to_the_53_are_read_exactly(sample_dir):
    """2**53 + 1 and 2**53 + 2 are one number in float64: read through it, they would be 'duplicated'."""
    train_rows = len(pd.read_csv(sample_dir / "train.csv"))
    big = [str(2**53 + k) for k in range(train_rows)]
    set_ids(sample_dir, "train.csv", big)
    test_ids = [str(2**63 - 1 - k) for k in range(len(pd.read_csv(sample_dir / "test.csv")))]
    set_ids(sample_dir, "test.csv", test_ids)
    set_ids(sample_dir, "sample_submission.csv", test_ids)
    loaded = load_dataset(sample_dir)
    assert [str(i) for i in loaded.train.index] == big
    assert [str(i) for i in loaded.test.index] == test_ids


@pytest.mark.parametrize(
    "bad, words",
    [("12.5", "not an integer: '12.5'"), ("1e3", "not an integer"), ("x7", "not an integer"),
     (str(2**63), "does not fit a 64-bit integer")],
)  # fmt: skip
def test_an_id_that_is_not_an_exact_integer_is_named_with_file_and_line(sample_dir, bad, words):
    ids = pd.read_csv(sample_dir / "train.csv", dtype={"id": str})["id"].tolist()
    ids[6] = bad
    set_ids(sample_dir, "train.csv", ids)
    error = error_of(sample_dir)
    assert error.file.endswith("train.csv") and (error.column, error.line) == ("id", 8)
    assert words in str(error)


@pytest.mark.parametrize("value", [1e39, -1e31, 3.0e38])
def test_a_magnitude_out_of_range_is_named_with_file_column_and_line(sample_dir, value):
    def edit(frame):
        frame.loc[2, "petroMag_z"] = value
        return frame

    rewrite(sample_dir, "test.csv", edit)
    error = error_of(sample_dir)
    assert error.file.endswith("test.csv") and (error.column, error.line) == ("petroMag_z", 4)
    assert "out of range" in str(error)


def test_the_largest_magnitudes_taken_give_finite_features_in_every_family(tiny_config):
    """The limit's promise: +-1e30 side by side in one row still makes a finite float32 feature table."""
    from features.families import FAMILY_NAMES
    from features.table import feature_frame
    from pipeline.data.loading import MAGNITUDE_LIMIT
    from pipeline.data.sources import SampleSource

    train = SampleSource(tiny_config.sample).load().train.copy()
    train.iloc[0, 1:11] = MAGNITUDE_LIMIT
    train.iloc[0, 11:21] = -MAGNITUDE_LIMIT
    train.iloc[1, 1:21] = -MAGNITUDE_LIMIT
    with np.errstate(all="ignore"):
        features = feature_frame(train, FAMILY_NAMES)
    assert np.isfinite(features.to_numpy()).all()
