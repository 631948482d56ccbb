"""--stage tune: Optuna studies in a database, resumable and shareable, feeding the trainers."""

import dataclasses
import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from sqlalchemy.exc import OperationalError
from testkit import TINY, make_runner, run_cli, train_lgbm

from pipeline.config import load_config
from pipeline.engine.errors import ConfigError
from pipeline.engine.studies import default_storage_url, study_storage
from pipeline.stages.tune import StopAtBudget, configured_settings, open_storage, trials_toward_budget

ROOT = Path(__file__).resolve().parents[3]
DROPPED = ("max_depth", "min_data_in_leaf", "min_sum_hessian_in_leaf", "feature_fraction", "bagging_fraction",
           "lambda_l1", "lambda_l2")  # fmt: skip
SMALL_SPACE = [
    "tune.space.lgbm.num_leaves={choices = [3, 5, 9]}",
    "tune.space.lgbm.learning_rate={low = 0.1, high = 0.4, log = true}",
    *(f"tune.space.lgbm.{name}=false" for name in DROPPED),
    "tune.pruner_startup_trials=2",
]
QUICK_TUNE = [*TINY, *SMALL_SPACE]


def tune_command(cache: Path, out: Path, n_trials: int, extra=()) -> list[str]:
    sets = [item for o in [*QUICK_TUNE, f"tune.n_trials={n_trials}", *extra] for item in ("--set", o)]
    return [sys.executable, str(ROOT / "pipeline" / "run.py"), "--stage", "tune", "--quiet",
            "--backend", "sequential",
            "--cache-dir", str(cache), "--out-dir", str(out), *sets]  # fmt: skip


def study_database(cache: Path) -> optuna.storages.BaseStorage:
    """The cache's study database, opened as the pipeline opens it (safe while a search creates it)."""
    return open_storage(default_storage_url(cache))


def the_study(cache: Path) -> optuna.Study:
    storage = study_database(cache)
    (name,) = optuna.study.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage)


def finished(study: optuna.Study) -> list:
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return study.get_trials(deepcopy=False, states=states)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "tune.space.lgbm.num_leaves={low = 50, high = 10}",
            "tune.space.lgbm.num_leaves: needs numbers low < high",
        ),
        ("tune.space.lgbm.learning_rate={low = 0, high = 0.1, log = true}", "a log scale needs low > 0"),
        ("tune.space.lgbm.num_leavs={low = 2, high = 9}", "tune.space.lgbm.num_leavs: not a parameter"),
        ("tune.space.mlp.hidden={choices = []}", "choices must be a non-empty list"),
        ("tune.space.mlp.hidden={from = 1}", "must be {low"),
        ("tune.space.lgbm=3", "must be a table"),
    ],
)
def test_a_bad_search_space_is_a_one_line_config_error(tmp_path, capsys, override, message):
    assert run_cli(tmp_path, "--stage", "tune", "--set", override) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1


def test_tuned_settings_reach_the_trainers_and_a_new_space_recomputes_them(tmp_path):
    base = [*QUICK_TUNE, "tune.n_trials=3", 'lgbm.settings="tuned"', 'blend.models=["lgbm"]']
    with study_storage(default_storage_url(tmp_path / "cache")):
        first = make_runner(load_config(overrides=base), tmp_path / "cache")
        lgbm = first.run("lgbm")
        tuned = first.artifact("tune_lgbm")
        assert tuned.finished == 3 and set(tuned.params) == {"num_leaves", "learning_rate"}
        booster = lgbm.fold_models[0].booster
        assert booster.params["num_leaves"] == tuned.params["num_leaves"]
        assert booster.params["learning_rate"] == pytest.approx(tuned.params["learning_rate"])
        assert lgbm.honesty == "optimistic: settings tuned on these folds"
        assert lgbm.oof_score == pytest.approx(tuned.best_score)
        assert lgbm.info["tuning_trial"] == tuned.best_trial  # the trial's own result, not trained again
        retrained = train_lgbm(
            first.artifact("data"), first.artifact("features"), first.artifact("folds"),
            dataclasses.replace(tuned, best_result=None), cfg=first.config.lgbm,
        )  # fmt: skip
        assert "tuning_trial" not in retrained.info and retrained.honesty == lgbm.honesty
        cached = make_runner(load_config(overrides=base), tmp_path / "cache").artifact("tune_lgbm")
        assert cached.best_result is None and cached.params == tuned.params  # trainer code may change
        np.testing.assert_allclose(retrained.oof_proba, lgbm.oof_proba, atol=1e-6)
        report = first.run("report")
        assert "Tuning lgbm" in report.html and "tune_lgbm_history.png" in report.pictures

        narrower = [*base, "tune.space.lgbm.num_leaves={choices = [4]}"]
        second = make_runner(load_config(overrides=narrower), tmp_path / "cache")
        assert second.key("tune_lgbm") != first.key("tune_lgbm") and second.key("lgbm") != first.key("lgbm")
        retuned = second.run("lgbm")
        assert second.records["tune_lgbm"].status == "computed"
        assert retuned.fold_models[0].booster.params["num_leaves"] == 4
        assert second.key("features") == first.key("features")

    config_file = tmp_path / "best.toml"
    config_file.write_text(tuned.best_params_toml())
    assert load_config(config_file).lgbm.params["num_leaves"] == tuned.params["num_leaves"]


def test_the_first_trial_is_the_configured_settings(tmp_path):
    own = [*QUICK_TUNE, "tune.n_trials=2", "lgbm.num_leaves=5", "lgbm.learning_rate=0.2"]
    with study_storage(default_storage_url(tmp_path / "cache")):
        tuned = make_runner(load_config(overrides=own), tmp_path / "cache").run("tune_lgbm")
    first = tuned.trials.loc[0]
    assert first["start"] == "configured" and tuned.trials.loc[1]["start"] == "sampled"
    assert (first["param_num_leaves"], first["param_learning_rate"]) == (5, pytest.approx(0.2))


def test_the_configured_settings_move_to_the_nearest_point_of_the_space():
    space = {
        "learning_rate": {"low": 0.1, "high": 0.4, "log": True, "int": False},
        "max_depth": {"low": 4, "high": 12, "log": False, "int": True},
        "lambda_l1": {"low": 0.001, "high": 10.0, "log": True, "int": False},
        "num_leaves": {"choices": [3, 9]},
    }
    cfg = load_config(overrides=["lgbm.learning_rate=0.05", "lgbm.num_leaves=31"])
    task = dataclasses.replace(cfg.tune_task("lgbm"), space=space)
    assert configured_settings(task) == {"learning_rate": 0.1, "max_depth": 12, "lambda_l1": 0.001}


def test_the_configured_settings_count_lightgbm_parameters_under_any_of_their_names():
    search = {"low": 0.001, "high": 10.0, "log": True, "int": False}
    by_alias = load_config(overrides=["lgbm.reg_alpha=0.5"]).tune_task("lgbm")
    assert configured_settings(dataclasses.replace(by_alias, space={"lambda_l1": search})) == {
        "lambda_l1": 0.5
    }
    by_name = load_config(overrides=["lgbm.lambda_l1=0.5"]).tune_task("lgbm")
    assert configured_settings(dataclasses.replace(by_name, space={"reg_alpha": search})) == {
        "reg_alpha": 0.5
    }


def test_a_killed_search_resumes_with_its_finished_trials(tmp_path):
    cache = tmp_path / "cache"
    process = subprocess.Popen(tune_command(cache, tmp_path / "o1", 8), start_new_session=True)
    deadline = time.time() + 180
    while time.time() < deadline:
        time.sleep(0.5)
        if (cache / "tune").exists() and optuna.study.get_all_study_names(study_database(cache)):
            if len(finished(the_study(cache))) >= 2:
                break
    assert process.poll() is None, "the search finished before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = {t.number: t.params for t in finished(the_study(cache))}
    assert 2 <= len(before) < 8 and not list(cache.glob("tune_lgbm/*/meta.json"))

    rerun = subprocess.run(tune_command(cache, tmp_path / "o2", 8), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    after = {t.number: t.params for t in finished(the_study(cache))}
    assert len(after) == 8 and all(after[number] == params for number, params in before.items())


def test_two_processes_share_one_study_without_errors_or_lost_trials(tmp_path):
    cache = tmp_path / "cache"
    processes = [
        subprocess.Popen(
            tune_command(cache, tmp_path / f"out{i}", 6),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(2)
    ]
    results = [process.communicate(timeout=300) + (process.returncode,) for process in processes]
    assert all(code == 0 for _, _, code in results), [err for _, err, _ in results]
    trials = the_study(cache).get_trials(deepcopy=False)
    states = {t.state for t in trials}
    assert states <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
    assert 6 <= len(trials) <= 7  # two workers may each start the last trial
    assert sorted(t.number for t in trials) == list(range(len(trials)))


def test_a_worker_stops_when_the_trials_another_worker_runs_complete_the_budget():
    study = optuna.create_study()
    since = datetime.datetime.now()
    study.ask()  # the other worker's trial, still running
    study.optimize(lambda trial: 0.5, n_trials=10, callbacks=[StopAtBudget(3, since)])
    assert len(finished(study)) == 2  # 3 with the running one (counting finished ones only: 3 more)


def test_the_budget_counts_finished_trials_and_those_running_since_the_search_began():
    study = optuna.create_study()
    study.ask()  # left running by a killed earlier search
    time.sleep(0.01)
    since = datetime.datetime.now()
    time.sleep(0.01)
    study.ask()  # another worker's, running now
    for state in (TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
        study.tell(study.ask(), 0.5 if state == TrialState.COMPLETE else None, state=state)
    assert trials_toward_budget(study, since) == 4


def test_the_tuned_preset_trains_the_full_preset_on_tuned_settings():
    tuned, full = load_config(preset="tuned"), load_config(preset="full")
    assert tuned.lgbm.settings == tuned.mlp.settings == "tuned" and set(tuned.tune.models) == {"lgbm", "mlp"}
    assert tuned.features == full.features and tuned.blend == full.blend
    assert tuned.section("tune_lgbm").base == full.lgbm


def ask_in_a_new_process(url: str, n_asks: int, start_at: float, results) -> None:
    """A worker process: open the study, wait for the common start, take ``n_asks`` trials."""
    study = optuna.load_study(study_name="race", storage=open_storage(url))
    time.sleep(max(0.0, start_at - time.time()))
    results.put([study.ask().number for _ in range(n_asks)])


def test_processes_never_take_the_same_waiting_trial_from_a_sqlite_study(tmp_path):
    # Python's sqlite3 starts a transaction only at the first write: without BEGIN IMMEDIATE, two
    # processes both read a waiting trial and both run it (18 of 118 taken twice when measured)
    import multiprocessing

    url = f"sqlite:///{tmp_path / 'race.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="race", storage=open_storage(url))
    for x in range(60):
        study.enqueue_trial({"x": float(x)})
    context = multiprocessing.get_context("spawn")
    results, start_at = context.Queue(), time.time() + 5
    workers = [
        context.Process(target=ask_in_a_new_process, args=(url, 30, start_at, results)) for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    taken = [number for _ in workers for number in results.get(timeout=120)]
    for worker in workers:
        worker.join()
    from_the_queue = [number for number in taken if number < 60]
    assert sorted(from_the_queue) == list(range(60))


def test_opening_a_database_another_process_is_creating_is_retried(monkeypatch):
    import pipeline.stages.tune as tune

    attempts = []

    def creating_elsewhere(url):
        attempts.append(url)
        if len(attempts) < 3:
            raise OperationalError("CREATE TABLE trials", {}, Exception("table trials already exists"))
        return "storage"

    monkeypatch.setattr(tune, "rdb_storage", creating_elsewhere)
    monkeypatch.setattr(tune.time, "sleep", lambda seconds: None)
    assert open_storage("sqlite:///x.db") == "storage" and len(attempts) == 3

    attempts.clear()
    monkeypatch.setattr(tune, "OPEN_ATTEMPTS", 2)
    with pytest.raises(ConfigError, match="cannot open .*table trials already exists"):
        open_storage("sqlite:///x.db")
    assert len(attempts) == 2
