"""Files and folders appear whole or not at all, even when a writer fails half-way or runs race."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from pipeline.engine.cache import Cache
from pipeline.engine.files import write_atomically, write_file, write_folder


def folder_writers(text: str) -> dict:
    return {"a.txt": lambda path: path.write_text(text), "sub/b.txt": lambda path: path.write_text(text * 2)}


def failing_half_way(text: str) -> dict:
    def fail(path):
        path.write_text("half")
        raise OSError("disk full")

    return {"a.txt": lambda path: path.write_text(text), "sub/b.txt": fail}


def listing(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_folder_writer_failing_half_way_leaves_the_previous_folder_and_no_temporary_files(tmp_path):
    write_folder(tmp_path / "run", folder_writers("old"))
    before = listing(tmp_path)
    with pytest.raises(OSError, match="disk full"):
        write_folder(tmp_path / "run", failing_half_way("new"))
    assert listing(tmp_path) == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_a_file_writer_failing_half_way_leaves_the_previous_file_and_no_temporary_file(tmp_path):
    write_file(tmp_path / "index.html", "old")

    def half(path):
        path.write_text("<html><body>half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(tmp_path / "index.html", half)
    assert listing(tmp_path) == {"index.html": "old"}


class Unpicklable:
    def __reduce__(self):
        raise OSError("disk full while pickling")


def test_a_cache_entry_whose_write_fails_half_way_leaves_the_previous_entry_and_no_temporary_folder(tmp_path):
    cache = Cache(tmp_path, key=b"k" * 32)
    cache.save("stage", "k1", [1, 2, 3], {"seconds": 1.0})
    with pytest.raises(OSError, match="disk full"):
        cache.save("stage", "k1", [list(range(10_000)), Unpicklable()], {"seconds": 2.0})
    assert cache.load("stage", "k1")[0] == [1, 2, 3]
    assert [p.name for p in (tmp_path / "stage").iterdir()] == ["k1"]


def write_many(folder: str, count: int, text: str) -> None:
    for _ in range(count):
        write_folder(Path(folder), folder_writers(text))


def test_runs_writing_the_same_folder_at_once_all_finish_and_leave_no_debris(tmp_path):
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=write_many, args=(str(tmp_path / "run"), 150, "x")) for _ in range(3)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
    assert [process.exitcode for process in writers] == [0, 0, 0]
    assert listing(tmp_path) == {"run/a.txt": "x", "run/sub/b.txt": "xx"}
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
