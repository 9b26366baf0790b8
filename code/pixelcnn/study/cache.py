"""The results cache: one verified folder per expensive result.

An entry lives in ``<cache>/<kind>-<key>/``: its files plus ``manifest.json`` (config, metrics,
wall time, sha256 of every file, and the ``provenance``: hardware, library versions, commit, source
hash). The key hashes the kind, the config, the data identity and the kind's code version, so a
different config never hits a stale entry. Entries are written to a temporary folder and renamed
into place, so an interrupted write leaves no entry; reading verifies every hash. Each cached result
of the report is declared once (``declare``), which gives its key, its typed result and its command.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .data import DATA_ID
from .provenance import provenance
from .settings import PACKAGE_DIR, cache_dir, project_root, sha256

# Bump a kind's version whenever its computation changes: old entries then stop matching.
CODE_VERSIONS = {"train": 1, "samples": 1, "evaluate": 1, "estimate": 1, "benchmark": 1}
_READ: dict[str, set[str]] = {}  # entry name -> the files of it this process has read (what a report read)
OMITTED = "omitted.json"  # beside the files of an entry shipped without some of them (the notebook's payload)


class CacheError(RuntimeError):
    """A cache entry is missing, corrupt or cannot be written; the message says what to run."""


class Entry:
    """A verified cache entry: ``entry.path(name)`` gives a file, ``entry.manifest`` the record."""

    def __init__(self, folder: Path, manifest: dict, omitted: dict | None = None) -> None:
        self.folder, self.manifest, self.omitted = folder, manifest, omitted or {}

    def path(self, name: str) -> Path:
        if name not in self.manifest["files"]:
            raise CacheError(f"entry {self.folder.name} has no file {name!r}; it has {sorted(self.manifest['files'])}")
        if name in self.omitted.get("files", []):
            raise CacheError(f"entry {self.folder.name} was shipped without its file {name} "
                             f"({self.omitted.get('reason', 'left out')})")
        _READ.setdefault(self.folder.name, set()).add(name)
        return self.folder / name

    @property
    def metrics(self) -> dict:
        return self.manifest["metrics"]

    def __repr__(self) -> str:
        return f"Entry({self.folder.name})"


def entry_key(kind: str, config: dict) -> str:
    """The hash that names the entry of ``kind`` computed from ``config``."""
    if kind not in CODE_VERSIONS:
        raise ValueError(f"unknown cache kind {kind!r}; known: {sorted(CODE_VERSIONS)}")
    identity = {"kind": kind, "version": CODE_VERSIONS[kind], "data": DATA_ID, "config": config}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


def entry_folder(kind: str, config: dict, root: Path | None = None) -> Path:
    return Path(root or cache_dir()) / f"{kind}-{entry_key(kind, config)}"


def work_folder(kind: str, config: dict) -> Path:
    """Where a long computation of an entry keeps its checkpoints until the entry is published (not cached)."""
    return cache_dir() / "runs" / entry_key(kind, config)


def lookup(kind: str, config: dict, root: Path | None = None) -> Entry | None:
    """The verified entry for (kind, config), or None when there is none."""
    folder = entry_folder(kind, config, root)
    manifest_path = folder / "manifest.json"
    if not folder.is_dir():
        return None
    recompute = f"delete {folder} and recompute it (see `python -m pixelcnn --help`)"
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
        omitted = json.loads((folder / OMITTED).read_text()) if (folder / OMITTED).exists() else {}
    except (OSError, ValueError, KeyError) as error:
        raise CacheError(f"cache entry {folder.name} has an unreadable manifest ({error}); {recompute}") from error
    for name, expected in files.items():
        path = folder / name
        if name in omitted.get("files", []) and not path.exists():
            continue  # shipped without it on purpose: asking for it says so (Entry.path)
        if not path.is_file():
            raise CacheError(f"cache entry {folder.name} lacks its file {name}; {recompute}")
        if sha256(path) != expected:
            raise CacheError(f"cache entry {folder.name}: file {name} does not match its manifest hash "
                             f"(edited or truncated); {recompute}")
    _READ.setdefault(folder.name, set())
    return Entry(folder, manifest, omitted)


def compute_seconds(manifest: dict) -> float:
    """What an entry cost to compute: training time summed over every resumed segment, else its wall time."""
    return manifest["metrics"].get("train_seconds") or manifest["wall_seconds"]


def entries_read() -> dict[str, list[str]]:
    """The cache entries this process has read so far, each with the files of it that were read."""
    return {name: sorted(files) for name, files in sorted(_READ.items())}


def require(kind: str, config: dict, command: str, root: Path | None = None) -> Entry:
    """The verified entry, or a CacheError naming the missing entry and the command that makes it."""
    entry = lookup(kind, config, root)
    if entry is None:
        raise CacheError(f"missing cache entry {entry_folder(kind, config, root).name} ({kind}); "
                         f"compute it with: {command}")
    return entry


def _remove_abandoned(root: Path, name: str) -> None:
    """Delete temporary folders of an entry left by processes that were killed while writing it."""
    for tmp in root.glob(f".{name}.*"):
        pid = tmp.name[len(name) + 2:].split(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write(kind: str, config: dict, produce: Callable[[Path], dict], root: Path | None = None) -> Entry:
    """Run ``produce(tmp_folder) -> metrics`` and publish the folder atomically as the entry.

    ``produce`` writes its files into the temporary folder and returns the metrics to record.
    If another process published the same entry meanwhile, that entry is kept and returned.
    """
    root = Path(root or cache_dir())
    folder = entry_folder(kind, config, root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_abandoned(root, folder.name)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.{os.getpid()}.", dir=root))
    except OSError as error:
        raise CacheError(f"cannot write to the cache folder {root}: {error}") from error
    try:
        start = time.time()
        metrics = produce(tmp)
        files = {p.name: sha256(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        manifest = {"kind": kind, "key": entry_key(kind, config), "config": config, "metrics": metrics,
                    "wall_seconds": round(time.time() - start, 1), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    "files": files, **provenance(project_root(), PACKAGE_DIR)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
        try:
            tmp.rename(folder)
        except OSError:
            if not folder.exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # someone else published it first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return lookup(kind, config, root)


def remove(kind: str, config: dict, root: Path | None = None) -> None:
    """Delete the entry of (kind, config) if there is one (before recomputing it)."""
    shutil.rmtree(entry_folder(kind, config, root), ignore_errors=True)


def get(kind: str, inputs: dict, compute: Callable[[Path], dict], command: str, *, allowed: bool = True,
        root: Path | None = None) -> Entry:
    """The one way to look up, else compute, a result.

    The verified entry of (kind, inputs) if there is one. Otherwise, when ``allowed``, run
    ``compute(tmp_folder) -> metrics`` and publish the entry; a lock makes a second process that
    asks for the same entry meanwhile wait and then read it instead of computing it again. When not
    ``allowed``, a CacheError names the missing entry and ``command``, the command that computes it.
    """
    entry = lookup(kind, inputs, root)
    if entry is not None:
        return entry
    if not allowed:
        return require(kind, inputs, command, root)
    root = Path(root or cache_dir())
    folder = entry_folder(kind, inputs, root)
    try:
        (root / ".locks").mkdir(parents=True, exist_ok=True)
        lock = open(root / ".locks" / f"{folder.name}.lock", "w")  # noqa: SIM115 - held until the entry exists
    except OSError as error:
        raise CacheError(f"cannot write to the cache folder {root}: {error}") from error
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return lookup(kind, inputs, root) or write(kind, inputs, compute, root)


# --- Declared results: each cached result declared once -------------------------------------------------

DECLARED: dict[str, Declared] = {}  # name -> its declaration, filled as the package's modules are imported


@dataclass(frozen=True)
class Declared:
    """One cached result of the report, declared once (``declare``).

    ``inputs(*args)`` lists everything the result depends on: the cache key is made of that dict, and
    ``compute(inputs)`` is handed that dict and nothing else, so a changed input always means a new
    entry. ``result`` types the computed values: a frozen dataclass whose ``inputs`` field carries the
    inputs with the result, so no reader needs to ask for them again. ``declared(*args)`` is the result
    (read, else computed and cached); ``load(inputs)`` the same for inputs at hand (a result computed
    from another one); ``lookup(*args)`` the verified entry or None. ``cases`` are the arguments the
    report calls it with: each must be in the committed cache.
    """

    name: str
    inputs: Callable[..., dict]
    compute: Callable[[dict], dict]
    result: type
    kind: str = "estimate"
    cases: tuple[tuple, ...] = ((),)
    metrics: bool = False  # the values are the entry's metrics (no files), not a tensors.pt file
    whole: str | None = None  # the result field that takes the values whole (their keys are names, not fields)

    @property
    def command(self) -> str:
        """The shell command that computes (or reads) the result."""
        return f"python -m pixelcnn compute {self.name}"

    def __call__(self, *args, **kwargs):
        return self.load(self.inputs(*args, **kwargs))

    def load(self, inputs: dict):
        """The result of these inputs (as ``inputs`` makes them), read from the cache or computed and cached."""
        if self.metrics:
            values = get(self.kind, inputs, lambda folder: self.compute(inputs), self.command).metrics
        else:
            import torch

            def produce(folder: Path) -> dict:
                torch.save(self.compute(inputs), folder / "tensors.pt")
                return {}

            entry = get(self.kind, inputs, produce, self.command)
            values = torch.load(entry.path("tensors.pt"), weights_only=True)
        return self.result(inputs=inputs, **({self.whole: values} if self.whole else values))

    def lookup(self, *args, root: Path | None = None, **kwargs) -> Entry | None:
        """The verified entry of the result for these arguments, or None; computes nothing."""
        return lookup(self.kind, self.inputs(*args, **kwargs), root)


def declare(name: str, result: type, inputs: Callable[..., dict], **options) -> Callable[[Callable], Declared]:
    """Declare the decorated ``compute(inputs) -> values`` as the cached result ``name`` (see ``Declared``)."""
    def register(compute: Callable[[dict], dict]) -> Declared:
        if name in DECLARED:
            raise ValueError(f"a cached result named {name!r} is declared twice")
        DECLARED[name] = Declared(name, inputs, compute, result, **options)
        return DECLARED[name]

    return register


def declared() -> dict[str, Declared]:
    """Every declared result of the package (its modules are imported first, so that each has declared its own)."""
    import importlib
    import pkgutil

    for module in pkgutil.walk_packages([str(PACKAGE_DIR)], "pixelcnn."):
        if module.name != "pixelcnn.__main__":
            importlib.import_module(module.name)
    return dict(DECLARED)
