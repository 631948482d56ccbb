import numpy as np
import pandas as pd
import pytest

from pipeline.stages.config import SubmissionConfig
from pipeline.stages.submission import check_submission, clip_and_normalise, make_submission
from pipeline.validation.cv import ModelResult


def blend_of(data, proba):
    frame = pd.DataFrame(proba, index=data.test.index, columns=list(data.classes))
    return ModelResult("blend", frame, frame, (), (), 0.0, "")


def test_submission_has_sample_columns_and_rows(tiny_data, sample_dir):
    proba = np.random.default_rng(0).dirichlet(np.ones(19), size=len(tiny_data.test))
    proba[:, 0] = 0.0
    blend = blend_of(tiny_data, proba)
    shuffled = type(blend)(
        **{**blend.__dict__, "test_proba": blend.test_proba.sample(frac=1, random_state=0)}
    )
    submission = make_submission(tiny_data, shuffled, cfg=SubmissionConfig(clip=1e-6))
    sample = pd.read_csv(sample_dir / "sample_submission.csv")
    assert list(submission.columns) == list(sample.columns)
    assert submission["id"].tolist() == sample["id"].tolist()
    assert submission.iloc[:, 1:].min().min() >= 1e-6 / 1.01
    assert np.allclose(submission.iloc[:, 1:].sum(axis=1), 1.0)


def test_clip_and_normalise_keeps_rows_on_the_simplex():
    proba = clip_and_normalise(np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]]), 0.01)
    assert proba.min() > 0 and np.allclose(proba.sum(axis=1), 1.0)


def test_check_refuses_nan_and_wrong_columns(tiny_data):
    proba = np.full((len(tiny_data.test), 19), 1 / 19)
    good = pd.DataFrame(proba, columns=list(tiny_data.classes))
    good.insert(0, "id", tiny_data.test.index.to_numpy())
    check_submission(good, tiny_data)
    with pytest.raises(ValueError, match="NaN"):
        check_submission(good.assign(QSO=np.nan), tiny_data)
    with pytest.raises(ValueError, match="columns"):
        check_submission(good[["id", *reversed(tiny_data.classes)]], tiny_data)
    with pytest.raises(ValueError, match="ids"):
        check_submission(good.iloc[::-1], tiny_data)


def test_each_submitted_value_is_the_clipped_renormalised_blend_of_its_own_id_and_class(tiny_data):
    """The blend's test frame arrives with rows shuffled and class columns permuted; every cell of the
    submission must still be the clipped, renormalised blend probability of that id and class."""
    rng = np.random.default_rng(3)
    proba = rng.dirichlet(np.full(19, 0.3), size=len(tiny_data.test))
    proba[:, 4] = 0.0  # a class the blend gives no probability: clipping changes every row
    blend = blend_of(tiny_data, proba)
    rows = rng.permutation(len(tiny_data.test))
    columns = list(rng.permutation(list(tiny_data.classes)))
    scrambled = blend.test_proba.iloc[rows][columns]
    shuffled = type(blend)(**{**blend.__dict__, "test_proba": scrambled})
    clip = 1e-3
    submission = make_submission(tiny_data, shuffled, cfg=SubmissionConfig(clip=clip)).set_index("id")
    expected = pd.DataFrame(
        clip_and_normalise(proba, clip), index=tiny_data.test.index, columns=list(tiny_data.classes)
    )
    for k in rng.choice(len(expected), size=25, replace=False):
        row_id = expected.index[k]
        for name in tiny_data.classes:
            assert submission.loc[row_id, name] == pytest.approx(expected.loc[row_id, name], rel=1e-12)
    np.testing.assert_allclose(submission.loc[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-12)
