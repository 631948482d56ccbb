"""Only entries this installation signed are unpickled; the key lives outside the cache, mode 600."""

from __future__ import annotations

import json
import os
import stat

import joblib
import pytest
from testkit import make_runner

from pipeline.engine import signing
from pipeline.engine.cache import ARTIFACT_FILE, META_FILE, Cache, file_sha256
from pipeline.engine.errors import UserError

OUR_KEY, THEIR_KEY = b"k" * 32, b"x" * 32


class Payload:
    """Unpickling it creates a file: a stand-in for a pickle that runs a stranger's command."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def forge_entry(cache: Cache, stage: str, key: str, marker, sign_with: bytes | None) -> None:
    """An entry whose artifact runs code on load and whose checksum matches (the issue's attack);
    signed with ``sign_with`` (another installation's key) or not at all."""
    folder = cache.entry(stage, key)
    folder.mkdir(parents=True)
    joblib.dump(Payload(marker), folder / ARTIFACT_FILE)
    meta = {"stage": stage, "key": key, "checksum": file_sha256(folder / ARTIFACT_FILE)}
    if sign_with is not None:
        meta["signature"] = signing.signature(meta, sign_with)
    (folder / META_FILE).write_text(json.dumps(meta), encoding="utf-8")


@pytest.mark.parametrize("sign_with", [None, THEIR_KEY], ids=["unsigned", "another key"])
def test_an_entry_this_installation_did_not_sign_is_never_unpickled(tmp_path, sign_with):
    marker = tmp_path / "payload-ran"
    forge_entry(Cache(tmp_path / "cache"), "stage", "k1", marker, sign_with)
    with pytest.warns(UserWarning, match="not loaded: not signed by this installation's key"):
        assert Cache(tmp_path / "cache", key=OUR_KEY).load("stage", "k1") is None
    assert not marker.exists()
    assert not (tmp_path / "cache" / "stage" / "k1").exists()


def test_the_forged_entry_would_run_its_code_if_it_were_trusted(tmp_path):
    """The control of the test above: the same entry, loaded with the key that signed it, runs."""
    marker = tmp_path / "payload-ran"
    forge_entry(Cache(tmp_path / "cache"), "stage", "k1", marker, THEIR_KEY)
    Cache(tmp_path / "cache", key=THEIR_KEY).load("stage", "k1")
    assert marker.exists()


def test_an_edited_metadata_field_breaks_the_signature(tmp_path):
    cache = Cache(tmp_path, key=OUR_KEY)
    cache.save("stage", "k1", [1, 2, 3], {"oof_log_loss": 0.41})
    path = cache.entry("stage", "k1") / META_FILE
    meta = json.loads(path.read_text())
    assert cache.read_meta("stage", "k1") == meta
    path.write_text(json.dumps({**meta, "oof_log_loss": 0.30}))  # a nicer score, by hand
    assert cache.read_meta("stage", "k1") is None
    with pytest.warns(UserWarning, match="not signed"):
        assert cache.load("stage", "k1") is None


@pytest.mark.parametrize(
    "text", ["[1, 2]", '"meta"', "{not json", ""], ids=["list", "string", "broken", "empty"]
)
def test_unreadable_metadata_is_recomputed_with_a_warning(tmp_path, tiny_config, text):
    first = make_runner(tiny_config, tmp_path)
    first.run("folds")
    (tmp_path / "folds" / first.key("folds") / META_FILE).write_text(text)
    again = make_runner(tiny_config, tmp_path)
    assert "not loaded" in again.explain("folds")
    with pytest.warns(UserWarning, match="not loaded: metadata"):
        again.run("folds")
    assert again.records["folds"].status == "computed"
    assert make_runner(tiny_config, tmp_path).cache.read_meta("folds", first.key("folds")) is not None


def test_a_planted_cache_folder_is_recomputed_not_run(tmp_path, tiny_config):
    """The attack end to end: a stranger's .cache/ holding an entry at the key a run will ask for."""
    runner = make_runner(tiny_config, tmp_path / "cache")
    marker = tmp_path / "payload-ran"
    forge_entry(runner.cache, "folds", runner.key("folds"), marker, THEIR_KEY)
    with pytest.warns(UserWarning, match="not signed"):
        folds = runner.run("folds")
    assert not marker.exists() and runner.records["folds"].status == "computed"
    assert folds.n_splits == tiny_config.folds.n_splits


def test_the_key_is_created_once_outside_the_cache_with_mode_600(tmp_path, monkeypatch):
    monkeypatch.delenv(signing.KEY_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    path = signing.key_path()
    assert path == tmp_path / "config" / "dacon-celestial" / "cache.key"
    key = signing.signing_key()
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert signing.signing_key() == key and signing._key_at.cache_clear() is None
    assert signing.signing_key() == key  # read back from the file, not made again
    assert not list(path.parent.glob(".key-*"))


def test_a_shared_key_file_is_used_by_every_cache_that_names_it(tmp_path, monkeypatch):
    shared = tmp_path / "team.key"
    shared.write_text("ab" * 32 + "\n")
    monkeypatch.setenv(signing.KEY_ENV, str(shared))
    Cache(tmp_path / "cache").save("stage", "k1", 7, {})
    assert Cache(tmp_path / "cache", key=bytes.fromhex("ab" * 32)).load("stage", "k1")[0] == 7


@pytest.mark.parametrize("text", ["short", "zz" * 32], ids=["short", "not hex"])
def test_a_damaged_key_file_is_a_one_line_error(tmp_path, monkeypatch, text):
    path = tmp_path / "bad.key"
    path.write_text(text)
    monkeypatch.setenv(signing.KEY_ENV, str(path))
    with pytest.raises(UserError, match=f"{path}: not a cache signing key") as error:
        signing.signing_key()
    assert "\n" not in str(error.value)


def test_a_key_that_cannot_be_created_is_a_one_line_error(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    monkeypatch.setenv(signing.KEY_ENV, str(locked / "sub" / "cache.key"))
    if os.access(locked, os.W_OK):  # root ignores the mode: make the parent a file instead
        monkeypatch.setenv(signing.KEY_ENV, str(tmp_path / "a-file" / "cache.key"))
        (tmp_path / "a-file").write_text("")
    with pytest.raises(UserError, match="cannot create the cache signing key") as error:
        signing.signing_key()
    assert "\n" not in str(error.value) and signing.KEY_ENV in str(error.value)
