"""Runs that are killed, run twice at once or repeated: nothing corrupt, nothing stale, same answer."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from testkit import TINY, processes_with_marker

ROOT = Path(__file__).resolve().parents[2]
SLOW_MLP = ["mlp.max_epochs=120", "mlp.patience=120"]  # about 25 s of MLP: time to kill it mid-stage
MODELS = ("lgbm", "mlp")


def command(cache: Path, out: Path, extra=()) -> list[str]:
    sets = [item for override in [*TINY, *extra] for item in ("--set", override)]
    return [
        sys.executable,
        str(ROOT / "pipeline" / "run.py"),
        "--stage",
        "all",
        "--quiet",
        "--cache-dir",
        str(cache),
        "--out-dir",
        str(out),
        *sets,
    ]


def run(cache: Path, out: Path, extra=()) -> subprocess.CompletedProcess:
    return subprocess.run(command(cache, out, extra), capture_output=True, text=True, timeout=300)


def submission(out: Path) -> pd.DataFrame:
    (folder,) = [path for path in out.iterdir() if path.is_dir()]
    return pd.read_csv(folder / "submission.csv")


def test_killed_mid_stage_rerun_reuses_finished_stages_and_matches_an_uninterrupted_run(tmp_path):
    cache = tmp_path / "cache"
    marker = f"DACON_TEST_MARKER_{os.getpid()}_{time.time_ns()}"
    process = subprocess.Popen(
        command(cache, tmp_path / "killed", SLOW_MLP),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, marker: "1"},
    )
    deadline = time.time() + 120
    while not list(cache.glob("lgbm/*/meta.json")) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # now inside the mlp stage
    assert process.poll() is None, "the run finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)  # the main process only, as the OOM killer would
    process.wait()
    try:
        os.killpg(process.pid, signal.SIGKILL)  # then its orphaned workers, which nobody else would stop
    except ProcessLookupError:
        pass
    deadline = time.time() + 10
    while processes_with_marker(marker) and time.time() < deadline:
        time.sleep(0.2)
    assert processes_with_marker(marker) == [], "a killed run's workers outlived the test"
    assert not list(cache.glob("mlp/*/meta.json")) and not (tmp_path / "killed").exists()

    rerun = run(cache, tmp_path / "rerun", SLOW_MLP)
    assert rerun.returncode == 0, rerun.stderr
    lgbm_line = next(line for line in rerun.stdout.splitlines() if line.startswith("lgbm "))
    mlp_line = next(line for line in rerun.stdout.splitlines() if line.startswith("mlp "))
    assert lgbm_line.rstrip().endswith("yes") and mlp_line.rstrip().endswith("no")
    assert "warning" not in rerun.stderr

    fresh = run(tmp_path / "fresh-cache", tmp_path / "fresh", SLOW_MLP)
    assert fresh.returncode == 0, fresh.stderr
    first, second = submission(tmp_path / "rerun"), submission(tmp_path / "fresh")
    assert first["id"].equals(second["id"])
    assert np.abs(first.iloc[:, 1:].to_numpy() - second.iloc[:, 1:].to_numpy()).max() <= 1e-6


def test_two_runs_at_once_on_one_cache_both_finish_with_the_same_valid_output(tmp_path):
    cache = tmp_path / "cache"
    processes = [
        subprocess.Popen(
            command(cache, tmp_path / f"out{i}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    results = [process.communicate(timeout=300) + (process.returncode,) for process in processes]
    assert all(code == 0 for _, _, code in results), [err for _, err, _ in results]
    first, second = submission(tmp_path / "out0"), submission(tmp_path / "out1")
    pd.testing.assert_frame_equal(first, second, check_exact=False, atol=1e-6, rtol=0)
    again = run(cache, tmp_path / "out2")
    assert again.returncode == 0 and "warning" not in again.stderr
    assert all(
        line.rstrip().endswith(("yes", "yes (not loaded)"))
        for line in again.stdout.splitlines()
        if line.startswith(("features ", "folds ", "lgbm ", "mlp ", "blend ")) and "all-OOF" not in line
    )
    assert not list(cache.glob("*/.*"))  # no temporary entries left behind


def test_same_config_twice_gives_identical_lightgbm_and_mlp_within_1e6(tmp_path):
    """LightGBM (deterministic=true, fixed seed): bit-identical. MLP on CPU: within 1e-6."""
    from pipeline.api import load_result

    results = []
    for name in ("a", "b"):
        cache = tmp_path / name
        results.append(
            {model: load_result(model, cache_dir=cache, overrides=TINY) for model in ("lgbm", "mlp")}
        )
    assert np.array_equal(results[0]["lgbm"].oof_proba.to_numpy(), results[1]["lgbm"].oof_proba.to_numpy())
    assert np.array_equal(results[0]["lgbm"].test_proba.to_numpy(), results[1]["lgbm"].test_proba.to_numpy())
    difference = np.abs(results[0]["mlp"].oof_proba.to_numpy() - results[1]["mlp"].oof_proba.to_numpy())
    assert difference.max() <= 1e-6


def test_hostile_but_valid_data_runs_end_to_end(tmp_path, sample_dir):
    """±1e6 magnitudes, a class with one row, duplicated rows, a test fiberID outside 1..1000."""
    train = pd.read_csv(sample_dir / "train.csv")
    train.loc[0, "psfMag_u"], train.loc[1, "petroMag_g"] = -5_310_802.0, 1e6
    train.loc[2, train.columns[2:]] = train.loc[3, train.columns[2:]].to_numpy()
    rare = train.index[train["type"] == "STAR_PN"]
    train.loc[rare[1:], "type"] = "QSO"  # STAR_PN keeps one row
    train.to_csv(sample_dir / "train.csv", index=False)
    test = pd.read_csv(sample_dir / "test.csv")
    test.loc[0, "fiberID"] = 1200
    test.to_csv(sample_dir / "test.csv", index=False)
    result = subprocess.run(
        [*command(tmp_path / "cache", tmp_path / "out"), "--data-dir", str(sample_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "fiberID outside" in result.stderr
    output = submission(tmp_path / "out")
    assert np.isfinite(output.iloc[:, 1:].to_numpy()).all() and output.shape[1] == 20
    assert np.allclose(output.iloc[:, 1:].sum(axis=1), 1.0)
