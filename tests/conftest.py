"""Shared fixtures: a tiny, fast configuration and the sample it describes."""

from __future__ import annotations

from pathlib import Path

import pytest
from testkit import TINY

from pipeline.config import load_config
from pipeline.data.sources import SampleSource


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
