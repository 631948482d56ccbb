"""Each test of the hardening issue against the fault it guards: inject the fault, run the test,
restore the file; print whether the test caught it (a Markdown table for docs/results/).

    python tools/inject_faults.py            # every fault (about ten minutes on 2 cores)
    python tools/inject_faults.py "ids"      # the faults whose name contains one of the words

It edits the working tree while a test runs and restores it afterwards, so it refuses to start with
uncommitted changes (``git checkout .`` then undoes anything a killed run left). "a machine with 4
cores, the test as it is" is meant to pass: it shows the thread-split test no longer depends on the
machine's cores, where "the test as it was" fails.
"""

# ruff: noqa: E501 (the faults are verbatim source lines)
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Fault:
    """A named fault: text replacements (file, old, new) and the tests that should fail under it."""

    name: str
    edits: tuple[tuple[str, str, str], ...]
    tests: tuple[str, ...]


FAULTS: list[Fault] = [
    Fault(
        "signature never checked",
        (
            (
                "pipeline/engine/signing.py",
                '    given = meta.get("signature")\n',
                '    return True\n    given = meta.get("signature")\n',
            ),
        ),
        ("tests/pipeline/engine/test_signing.py",),
    ),
    Fault(
        "meta.json that is JSON but not an object is trusted",
        (
            (
                "pipeline/engine/cache.py",
                '        if not isinstance(meta, dict):\n            return None, "metadata is not a JSON object"\n',
                "",
            ),
        ),
        ("tests/pipeline/engine/test_signing.py::test_unreadable_metadata_is_recomputed_with_a_warning",),
    ),
    Fault(
        "no masking in the ledger",
        (("pipeline/reporting/ledger.py", "row[column] = masked(str(value))", "row[column] = str(value)"),),
        (
            "tests/pipeline/test_labels_and_secrets.py::test_a_password_in_the_study_storage_url_reaches_no_output",
        ),
    ),
    Fault(
        "no masking in run.json",
        (("pipeline/reporting/files.py", "json.dumps(masked_values(run_info)", "json.dumps((run_info)"),),
        (
            "tests/pipeline/test_labels_and_secrets.py::test_a_password_in_the_study_storage_url_reaches_no_output",
        ),
    ),
    Fault(
        "no range checks (load and Config)",
        (
            (
                "pipeline/engine/settings.py",
                '            if key in ranges:\n                check_in_range(f"{name}.{key}", kwargs[key], ranges[key])\n',
                "",
            ),
            ("pipeline/config.py", "            check_section_ranges(name, section)\n", "            pass\n"),
        ),
        (
            "tests/pipeline/test_config.py::test_a_setting_out_of_its_range_is_refused_naming_key_value_and_range",
            "tests/pipeline/test_errors.py",
        ),
    ),
    Fault(
        "ranges not checked for sections built in Python",
        (("pipeline/config.py", "            check_section_ranges(name, section)\n", "            pass\n"),),
        ("tests/pipeline/test_config.py::test_a_section_built_in_python_is_range_checked_too",),
    ),
    Fault(
        "LightGBM values not checked",
        (
            (
                "models/lgbm/config.py",
                "        if params != DEFAULT_PARAMS:\n            check_lightgbm_values(section, params)\n",
                "",
            ),
        ),
        (
            "tests/pipeline/test_config.py::test_a_lightgbm_parameter_lightgbm_refuses_is_a_config_error_before_any_training",
        ),
    ),
    Fault(
        "damaged ledger rows not skipped",
        (
            (
                "pipeline/reporting/ledger.py",
                "            if problem:\n",
                "            if problem and False:\n",
            ),
        ),
        (
            "tests/pipeline/reporting/test_ledger.py::test_a_damaged_ledger_row_is_skipped_with_its_line_and_the_index_is_still_written",
        ),
    ),
    Fault(
        "ledger appends unlocked, in two writes",
        (
            (
                "pipeline/reporting/ledger.py",
                "        with locked(handle):\n            if handle.tell() == 0:\n                writer.writeheader()\n            writer.writerow(row)\n            handle.write(text.getvalue())\n",
                "        if True:\n            if handle.tell() == 0:\n                writer.writeheader()\n            writer.writerow(row)\n            value = text.getvalue()\n            handle.write(value[:100]); handle.flush(); handle.write(value[100:])\n",
            ),
        ),
        (
            "tests/pipeline/reporting/test_ledger.py::test_two_processes_appending_to_one_ledger_interleave_no_row",
        ),
    ),
    Fault(
        "the old folder swap",
        (
            (
                "pipeline/engine/files.py",
                "    for _ in range(PUBLISH_ATTEMPTS):\n",
                "    if folder.exists():\n        retired = Path(tempfile.mkdtemp(prefix=f'.{folder.name}-old-', dir=folder.parent))\n        os.replace(folder, retired / folder.name)\n        shutil.rmtree(retired, ignore_errors=True)\n    os.replace(staging, folder)\n    return\n    for _ in range(PUBLISH_ATTEMPTS):\n",
            ),
        ),
        (
            "tests/pipeline/engine/test_files.py::test_runs_writing_the_same_folder_at_once_all_finish_and_leave_no_debris",
        ),
    ),
    Fault(
        "a folder written in place",
        (
            (
                "pipeline/engine/files.py",
                "            write(staging / name)\n        replace_folder(staging, folder)\n",
                "            (folder / name).parent.mkdir(parents=True, exist_ok=True)\n            write(folder / name)\n",
            ),
        ),
        (
            "tests/pipeline/engine/test_files.py::test_a_folder_writer_failing_half_way_leaves_the_previous_folder_and_no_temporary_files",
        ),
    ),
    Fault(
        "ids through float64",
        (
            (
                "pipeline/data/loading.py",
                "    ids = pd.Series(exact_ids(frame[ID_COLUMN], file))\n",
                "    ids = pd.Series(pd.to_numeric(frame[ID_COLUMN]).astype('float64').astype('int64'))\n",
            ),
        ),
        ("tests/pipeline/data/test_loading.py::test_ids_above_2_to_the_53_are_read_exactly",),
    ),
    Fault(
        "no magnitude limit",
        (("pipeline/data/loading.py", "MAGNITUDE_LIMIT = 1e30\n", "MAGNITUDE_LIMIT = float('inf')\n"),),
        (
            "tests/pipeline/data/test_loading.py::test_a_magnitude_out_of_range_is_named_with_file_column_and_line",
        ),
    ),
    Fault(
        "a limit whose features overflow",
        (("pipeline/data/loading.py", "MAGNITUDE_LIMIT = 1e30\n", "MAGNITUDE_LIMIT = 3e38\n"),),
        (
            "tests/pipeline/data/test_loading.py::test_the_largest_magnitudes_taken_give_finite_features_in_every_family",
        ),
    ),
    Fault(
        "compare columns keyed by run name",
        (
            ("pipeline/reporting/compare.py", 'f"{last} in A: {a.name}"', 'f"{last} in {a.name}"'),
            ("pipeline/reporting/compare.py", 'f"{last} in B: {b.name}"', 'f"{last} in {b.name}"'),
        ),
        ("tests/pipeline/reporting/test_compare.py::test_a_run_compared_with_itself_differs_by_nothing",),
    ),
    Fault(
        "submission not re-aligned by id",
        (
            (
                "pipeline/stages/submission.py",
                "blend.test_proba.loc[data.test.index, list(data.classes)].to_numpy()",
                "blend.test_proba.to_numpy()",
            ),
        ),
        (
            "tests/pipeline/stages/test_submission.py::test_each_submitted_value_is_the_clipped_renormalised_blend_of_its_own_id_and_class",
        ),
    ),
    Fault(
        "submission rows re-aligned, columns not",
        (
            (
                "pipeline/stages/submission.py",
                "blend.test_proba.loc[data.test.index, list(data.classes)].to_numpy()",
                "blend.test_proba.loc[data.test.index].to_numpy()",
            ),
        ),
        (
            "tests/pipeline/stages/test_submission.py::test_each_submitted_value_is_the_clipped_renormalised_blend_of_its_own_id_and_class",
        ),
    ),
    Fault(
        "every label hard-coded honest",
        (
            (
                "pipeline/validation/cv.py",
                '    return "optimistic: " + "; ".join(optimism) if optimism else "honest"',
                '    return "honest"',
            ),
        ),
        (
            "tests/pipeline/test_labels_and_secrets.py::test_an_optimistic_run_says_why_in_summary_ledger_run_json_run_page_index_and_ablation",
        ),
    ),
    Fault(
        "data key ignores the files' bytes",
        (
            (
                "pipeline/data/sources.py",
                "            digest.update(file_sha256(path).encode())\n",
                "            pass\n",
            ),
        ),
        (
            "tests/pipeline/engine/test_keys.py::test_editing_one_value_of_a_data_file_on_disk_changes_every_key_and_says_so",
        ),
    ),
    Fault(
        "the last fold stops on its scored rows",
        (
            (
                "pipeline/validation/cv.py",
                "    rows = [fold_rows(plan, y, fold_of_row, groups, fold) for fold in range(folds.n_splits)]\n",
                "    rows = [fold_rows(plan, y, fold_of_row, groups, fold) for fold in range(folds.n_splits)]\n    rows[-1] = FoldRows(rows[-1].fit, rows[-1].valid, rows[-1].valid) if plan.mode == 'inner' else rows[-1]\n",
            ),
        ),
        (
            "tests/pipeline/test_honesty.py::test_lightgbm_fold_predictions_ignore_the_folds_own_labels",
            "tests/models/test_family_invariants.py::test_fold_predictions_ignore_the_folds_own_labels",
        ),
    ),
    Fault(
        "OOF mixed with the class shares of every row",
        (
            (
                "pipeline/validation/cv.py",
                "        oof[valid] = np.mean([o.valid_proba for o in mine], axis=0)\n",
                "        oof[valid] = 0.99 * np.mean([o.valid_proba for o in mine], axis=0) + 0.01 * np.bincount(y, minlength=data.n_classes) / len(y)\n",
            ),
        ),
        (
            "tests/pipeline/test_honesty.py::test_lightgbm_fold_predictions_ignore_the_folds_own_labels",
            "tests/pipeline/test_honesty.py::test_mlp_fold_predictions_ignore_the_folds_own_labels",
        ),
    ),
    Fault(
        "metric in log2",
        (
            (
                "pipeline/validation/metrics.py",
                "    return -np.log(proba[np.arange(len(labels)), np.asarray(labels)])",
                "    return -np.log2(proba[np.arange(len(labels)), np.asarray(labels)])",
            ),
        ),
        ("tests/pipeline/validation/test_metrics.py",),
    ),
    Fault(
        "metric not renormalised",
        (("pipeline/validation/metrics.py", "    proba /= proba.sum(axis=1, keepdims=True)\n", ""),),
        ("tests/pipeline/validation/test_metrics.py",),
    ),
    Fault(
        "a killed run's orphaned workers not stopped",
        (
            (
                "tests/pipeline/test_reliability.py",
                "        os.killpg(process.pid, signal.SIGKILL)  # then",
                "        pass  # os.killpg(process.pid, signal.SIGKILL)  # then",
            ),
        ),
        (
            "tests/pipeline/test_reliability.py::test_killed_mid_stage_rerun_reuses_finished_stages_and_matches_an_uninterrupted_run",
        ),
    ),
    Fault(
        "blend weights fitted on every row",
        (
            (
                "pipeline/stages/blend.py",
                "        held = fold_of_row == fold\n        inputs = BlendInputs(stacked[:, ~held])\n        fits = fit_methods(methods, inputs, labels[~held], temperature)\n",
                "        held = fold_of_row == fold\n        inputs = BlendInputs(stacked)\n        fits = fit_methods(methods, inputs, labels, temperature)\n        inputs = BlendInputs(stacked[:, ~held])\n",
            ),
        ),
        (
            "tests/pipeline/stages/test_blend.py::test_each_folds_blended_rows_use_the_weights_fitted_on_the_other_folds",
        ),
    ),
    Fault(
        "an absent class filled uniformly",
        (
            (
                "models/lgbm/trainer.py",
                "        return self.booster.predict(x, num_iteration=self.best_iteration)\n",
                "        p = self.booster.predict(x, num_iteration=self.best_iteration)\n        p[:, 12] = 1 / 19\n        return p / p.sum(axis=1, keepdims=True)\n",
            ),
        ),
        (
            "tests/models/lgbm/test_trainer.py::test_class_absent_from_a_folds_training_rows_still_gets_a_column",
        ),
    ),
    Fault(
        "a machine with 4 cores, the test as it is",
        (
            (
                "pipeline/engine/parallel.py",
                "def available_cores() -> int:\n",
                "def available_cores() -> int:\n    return 4\n",
            ),
        ),
        (
            "tests/pipeline/engine/test_parallel.py::test_the_mlps_last_wave_fold_trains_on_the_idle_core_with_the_same_numbers_on_every_backend",
        ),
    ),
    Fault(
        "importance base score on shuffled labels",
        (
            (
                "pipeline/stages/importance.py",
                "    permutation.fit(x, y)\n",
                "    permutation.fit(x, np.random.default_rng(0).permutation(y))\n",
            ),
        ),
        (
            "tests/pipeline/stages/test_importance.py::test_importances_come_from_a_stratified_sample_of_each_folds_held_out_rows",
        ),
    ),
    Fault(
        "a machine with 4 cores, the test as it was",
        (
            (
                "pipeline/engine/parallel.py",
                "def available_cores() -> int:\n",
                "def available_cores() -> int:\n    return 4\n",
            ),
            (
                "tests/pipeline/engine/test_parallel.py",
                '    monkeypatch.setattr(parallel, "available_cores", lambda: 2)  # the split',
                "    pass  # the split",
            ),
        ),
        (
            "tests/pipeline/engine/test_parallel.py::test_the_mlps_last_wave_fold_trains_on_the_idle_core_with_the_same_numbers_on_every_backend",
        ),
    ),
]


def apply(fault: Fault) -> dict[Path, str]:
    """Make the fault's edits; returns every touched file's original text."""
    originals: dict[Path, str] = {}
    for path, old, new in fault.edits:
        file = ROOT / path
        text = file.read_text(encoding="utf-8")
        originals.setdefault(file, text)
        if old not in text:
            raise SystemExit(f"{fault.name}: {path} no longer holds the text this fault replaces")
        file.write_text(text.replace(old, new, 1), encoding="utf-8")
    return originals


def caught(fault: Fault) -> tuple[bool, str]:
    """(did a test fail, pytest's last line) with the fault in place."""
    originals = apply(fault)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *fault.tests],
            cwd=ROOT, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
    finally:
        for file, text in originals.items():
            file.write_text(text, encoding="utf-8")
    lines = [line for line in done.stdout.splitlines() if " passed" in line or " failed" in line]
    return done.returncode != 0, lines[-1] if lines else done.stdout[-200:]


def main(words: list[str]) -> int:
    if subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout:
        raise SystemExit("commit or stash your changes first: this tool edits the working tree")
    print("| fault | tests | result |\n|---|---|---|")
    for fault in FAULTS:
        if words and not any(word in fault.name for word in words):
            continue
        failed, last = caught(fault)
        tests = ", ".join(test.split("::")[-1] for test in fault.tests)
        print(f"| {fault.name} | {tests} | {'caught' if failed else 'not caught'} ({last}) |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
