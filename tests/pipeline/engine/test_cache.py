import pandas as pd
import pytest

from pipeline.engine.cache import ARTIFACT_FILE, Cache


def test_round_trip_with_metadata(tmp_path):
    cache = Cache(tmp_path)
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    meta = cache.save("stage", "k1", frame, {"seconds": 1.5})
    artifact, loaded_meta = cache.load("stage", "k1")
    pd.testing.assert_frame_equal(artifact, frame)
    assert loaded_meta == meta and len(meta["checksum"]) == 64


def test_absent_entry_is_none(tmp_path):
    assert Cache(tmp_path).load("stage", "nothing") is None


@pytest.mark.parametrize("damage", ["truncate", "alter", "remove"])
def test_corrupt_entry_warns_and_is_not_loaded(tmp_path, damage):
    cache = Cache(tmp_path)
    cache.save("stage", "k1", list(range(1000)), {})
    path = cache.entry("stage", "k1") / ARTIFACT_FILE
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "alter":
        path.write_bytes(data[:-5] + b"xxxxx")
    else:
        path.unlink()
    with pytest.warns(UserWarning, match="not loaded: checksum mismatch; recomputing"):
        assert cache.load("stage", "k1") is None
    assert not cache.entry("stage", "k1").exists()


def test_writes_leave_no_temporary_folders(tmp_path):
    cache = Cache(tmp_path)
    cache.save("stage", "k1", 1, {})
    cache.save("stage", "k1", 2, {})  # a second writer of the same key
    assert [p.name for p in (tmp_path / "stage").iterdir()] == ["k1"]
    assert cache.load("stage", "k1")[0] == 2
