"""The results cache: keys, verification, atomic writes."""

from __future__ import annotations

import json
import subprocess

import pytest

from pixelcnn.study import cache
from pixelcnn.study.config import Config
from pixelcnn.study.provenance import provenance, source_hash
from pixelcnn.study.settings import PACKAGE_DIR, project_root


def produce_files(folder):
    (folder / "a.txt").write_text("hello")
    return {"value": 1.5}


def test_different_config_gives_a_different_key():
    base = Config().to_dict()
    assert cache.entry_key("train", base) == cache.entry_key("train", dict(base))
    assert cache.entry_key("train", base) != cache.entry_key("train", Config(layers=6).to_dict())
    assert cache.entry_key("train", base) != cache.entry_key("samples", base)


def test_write_then_lookup_returns_verified_entry():
    entry = cache.write("estimate", {"x": 1}, produce_files)
    again = cache.lookup("estimate", {"x": 1})
    assert again is not None and again.metrics == {"value": 1.5}
    assert again.path("a.txt").read_text() == "hello"
    manifest = again.manifest
    assert manifest["config"] == {"x": 1} and "sha256" not in manifest and manifest["files"]["a.txt"]
    assert {"commit", "hardware", "versions", "wall_seconds"} <= set(manifest)
    assert entry.folder == again.folder


@pytest.mark.parametrize("what", ["edit", "truncate", "delete", "manifest"])
def test_tampered_entry_is_an_error_naming_it(what):
    entry = cache.write("estimate", {"x": 2}, produce_files)
    if what == "edit":
        entry.path("a.txt").write_text("hellO")
    elif what == "truncate":
        entry.path("a.txt").write_text("")
    elif what == "delete":
        entry.path("a.txt").unlink()
    else:
        (entry.folder / "manifest.json").write_text("{not json")
    with pytest.raises(cache.CacheError, match=entry.folder.name):
        cache.lookup("estimate", {"x": 2})


def test_interrupted_write_leaves_no_entry(isolated_cache):
    def crash(folder):
        (folder / "half.txt").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.write("estimate", {"x": 3}, crash)
    assert cache.lookup("estimate", {"x": 3}) is None
    assert list(isolated_cache.iterdir()) == []


def test_missing_entry_names_the_command():
    with pytest.raises(cache.CacheError, match="python -m pixelcnn train q1"):
        cache.require("train", {"x": 4}, "python -m pixelcnn train q1")


def test_manifest_is_json_with_file_hashes():
    entry = cache.write("estimate", {"x": 5}, produce_files)
    manifest = json.loads((entry.folder / "manifest.json").read_text())
    assert set(manifest["files"]) == {"a.txt"}


def test_an_entry_names_the_commit_whose_source_it_ran():
    from pixelcnn.report.build import code_of, commit_sources

    sources = commit_sources()
    assert sources, "the repository's history gives each commit's package source"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project_root(), capture_output=True, text=True).stdout
    first = next(iter(sources.values()))
    source = next(h for h, c in sources.items() if c == first)
    assert code_of({"source_sha256": source}, sources) == first[:7]
    assert code_of({"source_sha256": "0" * 64}, sources) == "no commit"
    assert code_of({"commit": head, "uncommitted_changes": True}, sources) == f"{head[:7]} + changes"
    assert code_of({"source_sha256": source}, {}) == "not checked"  # no git (the notebook, alone)
    assert provenance(project_root(), PACKAGE_DIR)["source_sha256"] == source_hash(PACKAGE_DIR)
