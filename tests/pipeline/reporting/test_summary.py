from pipeline.engine.runner import StageRecord
from pipeline.reporting.summary import summary_table


def test_summary_shows_scores_honesty_seconds_and_cache_state():
    records = [
        StageRecord("features", "k1", "cached, not loaded", 0.0, {"seconds": 1.25}),
        StageRecord(
            "lgbm",
            "k2",
            "computed",
            12.34,
            {
                "oof_score": 0.345,
                "fold_scores": [0.34, 0.35],
                "optimism": ["early stopping on the scored fold"],
            },
        ),
        StageRecord(
            "blend",
            "k3",
            "cached",
            0.1,
            {
                "oof_score": 0.3,
                "fold_scores": [0.3],
                "optimism": [],
                "info": {
                    "optimistic_score": 0.29,
                    "optimistic_because": "weights fitted on the OOF rows they score",
                },
            },
        ),
    ]
    lines = summary_table(records, [("extra", "0.1", "-", "-", "-", "-")]).splitlines()
    assert lines[0].split()[:3] == ["stage", "OOF", "log"] and "honesty" in lines[0]
    assert "yes (not loaded)" in lines[2] and "computed in 1.2" in lines[2]
    assert "0.3450" in lines[3] and "0.3450 ± 0.0050" in lines[3] and "12.3" in lines[3]
    assert "optimistic: early stopping on the scored fold" in lines[3] and lines[3].endswith("no")
    assert "0.3000" in lines[4] and " honest " in lines[4] and lines[4].endswith("yes")
    assert lines[5].startswith("blend (all-OOF weights)") and "0.2900" in lines[5]
    assert "optimistic: weights fitted on the OOF rows they score" in lines[5]
    assert lines[6].startswith("extra")


def test_a_holdout_column_follows_the_oof_score_only_when_a_model_has_one():
    scored = {"oof_score": 0.4, "fold_scores": [0.4], "optimism": []}
    plain = [StageRecord("lgbm", "k", "computed", 1.0, scored)]
    assert "holdout" not in summary_table(plain).splitlines()[0]
    records = [
        StageRecord("folds", "k0", "computed", 0.1, {}),
        StageRecord("lgbm", "k1", "computed", 1.0, {**scored, "holdout_score": 0.4123}),
    ]
    header, _, folds, lgbm = summary_table(records, [("extra", "0.1", "-", "-", "-", "-")]).splitlines()[:4]
    assert header.split()[:6] == ["stage", "OOF", "log", "loss", "holdout", "per"]
    cells = lgbm.split()
    assert cells[:3] == ["lgbm", "0.4000", "0.4123"] and folds.split()[:4] == ["folds", "-", "-", "-"]
