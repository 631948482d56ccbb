"""Shared fixtures: a tiny, fast configuration and the sample it describes; every test runs in its own
temporary working directory (a user's ./data/ or ./.cache/ never reaches it), with a signing key of
the session's own, and the session leaves no worker process behind."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from testkit import TINY, descendants, is_resource_tracker, parent_of, processes_with_marker, stop_processes

from pipeline.config import load_config
from pipeline.data.sources import SampleSource
from pipeline.engine.signing import KEY_ENV

SESSION_KEY_FOLDER = Path(tempfile.mkdtemp(prefix="dacon-test-key-"))
os.environ[KEY_ENV] = str(SESSION_KEY_FOLDER / "cache.key")  # subprocesses inherit it
SESSION_MARKER = f"DACON_TEST_SESSION_{os.getpid()}_{time.time_ns()}"
os.environ[SESSION_MARKER] = "1"  # so is this: it finds a killed run's orphans, whoever their parent is


@pytest.fixture(autouse=True)
def in_temporary_folder(tmp_path, monkeypatch):
    """Each test's working directory is its own temporary folder."""
    monkeypatch.chdir(tmp_path)


def pytest_sessionfinish(session, exitstatus):
    """Stop the loky workers this session started, and any process a test left running (a child, or an
    orphan of a killed run that carries the session's marker); our own resource tracker ends with us."""
    from pipeline.engine.parallel import shutdown_local_workers

    shutdown_local_workers()
    left = set(descendants(os.getpid())) | set(processes_with_marker(SESSION_MARKER))
    stop_processes([pid for pid in left if not (is_resource_tracker(pid) and parent_of(pid) == os.getpid())])
    shutil.rmtree(SESSION_KEY_FOLDER, ignore_errors=True)


@pytest.fixture
def tiny_overrides() -> list[str]:
    return list(TINY)


@pytest.fixture
def tiny_config():
    return load_config(overrides=TINY)


@pytest.fixture
def tiny_data(tiny_config):
    return SampleSource(tiny_config.sample).load()


@pytest.fixture
def sample_dir(tmp_path, tiny_config) -> Path:
    """The tiny simulated sample written as Dacon's three files."""
    directory = tmp_path / "dacon"
    SampleSource(tiny_config.sample).write(directory)
    return directory
