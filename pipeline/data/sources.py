"""Where the data comes from: the built-in simulated sample, or a folder of Dacon's files."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.data import simulate
from pipeline.data.config import SampleConfig
from pipeline.data.loading import DATA_FILES, Dataset, dataset_from_frames, load_dataset
from pipeline.engine.cache import file_sha256
from pipeline.engine.codehash import code_hash
from pipeline.engine.errors import DataError
from pipeline.engine.files import write_atomically
from pipeline.engine.settings import section_fingerprint


class SampleSource:
    """The built-in simulated sample; its fingerprint covers its config and the simulator's code."""

    kind = "sample"

    def __init__(self, cfg: SampleConfig):
        self.cfg = cfg

    def fingerprint(self) -> str:
        digest = hashlib.sha256(section_fingerprint(self.cfg).encode())
        digest.update(code_hash(simulate.simulate).encode())
        digest.update(code_hash(dataset_from_frames).encode())
        digest.update(simulate.PROFILES_PATH.read_bytes())
        return digest.hexdigest()

    def load(self) -> Dataset:
        files = simulate.simulate(self.cfg)
        names = tuple(f"<built-in sample>/{name}" for name in DATA_FILES)
        return dataset_from_frames(files.train, files.test, files.sample_submission, names, files.test_labels)

    def headline(self) -> str:
        return "Running on the BUILT-IN SIMULATED SAMPLE"

    def banner(self) -> str:
        return (
            f"{self.headline()} ({self.cfg.n_train:,} train / "
            f"{self.cfg.n_test:,} test rows, seed {self.cfg.seed}), not Dacon's data. Give --data-dir DIR "
            "(train.csv, test.csv, sample_submission.csv) or put them in ./data/ for the real thing."
        )

    def write(self, directory: Path) -> list[Path]:
        """Write the sample as Dacon's three CSV files (each written atomically)."""
        files = simulate.simulate(self.cfg)
        directory.mkdir(parents=True, exist_ok=True)
        frames = (files.train, files.test, files.sample_submission)
        paths = [directory / name for name in DATA_FILES]
        for frame, path in zip(frames, paths):
            write_csv_atomically(frame, path)
        return paths


class FileSource:
    """Dacon's train.csv, test.csv and sample_submission.csv in one folder."""

    kind = "data"

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.paths = [self.directory / name for name in DATA_FILES]

    def fingerprint(self) -> str:
        digest = hashlib.sha256(code_hash(load_dataset).encode())
        for path in self.paths:
            if not path.is_file():
                raise DataError(str(path), "file not found")
            digest.update(file_sha256(path).encode())
        return digest.hexdigest()

    def load(self) -> Dataset:
        return load_dataset(self.directory)

    def headline(self) -> str:
        return f"Running on Dacon's files in {self.directory}/"

    def banner(self) -> str:
        return self.headline()


def write_csv_atomically(frame, path: Path) -> None:
    """Write a CSV to a temporary file beside ``path`` and rename it into place."""
    write_atomically(path, lambda temporary: frame.to_csv(temporary, index=False))


def choose_source(
    data_dir: Path | None, sample: SampleConfig, default_dir: Path = Path("data")
) -> SampleSource | FileSource:
    """--data-dir if given; else ./data/ when it holds any of Dacon's files; else the built-in sample."""
    if data_dir is not None:
        return FileSource(data_dir)
    if any((default_dir / name).exists() for name in DATA_FILES):
        return FileSource(default_dir)
    return SampleSource(sample)
