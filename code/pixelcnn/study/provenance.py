"""What computed a result: the hardware, the library versions, the commit and a hash of the package source.

``source_hash`` names the package source by its modules' git blob names, so the source an entry ran can be
matched with any commit's tree (``report.commit_sources``). It imports nothing of the package: the caller
names the repository and the package folder (``config.project_root()``, ``config.PACKAGE_DIR``).
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
from pathlib import Path


def git_blob_sha1(data: bytes) -> str:
    """The name git gives a file with these contents (so sources can be compared with any commit's tree)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's own naming


def source_hash(package: Path, blobs: dict[str, str] | None = None) -> str:
    """One hash of a package's source: of each module's path in the package and git blob name (``blobs``:
    path -> blob name, e.g. from a commit's tree; default: the modules in ``package`` as they are now)."""
    if blobs is None:
        blobs = {p.relative_to(package).as_posix(): git_blob_sha1(p.read_bytes()) for p in package.rglob("*.py")}
    return hashlib.sha256("".join(f"{name}\0{blob}\n" for name, blob in sorted(blobs.items())).encode()).hexdigest()


def provenance(root: Path, package: Path) -> dict:
    """Hardware, library versions, the commit of the repository ``root`` and a hash of the source of ``package``
    that computes an entry (``source_hash``: with uncommitted changes, it may still match a later commit)."""
    import lightning
    import torch

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
        # changes to the code, not to the cache (recomputing an entry first removes its committed folder)
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                     ":(exclude)cache"], cwd=root, capture_output=True, text=True,
                                    timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or "cpu"
    return {
        "commit": commit, "uncommitted_changes": dirty, "source_sha256": source_hash(package),
        "hardware": {"device": device, "cpu_threads": torch.get_num_threads(), "machine": platform.machine()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "lightning": lightning.__version__},
    }
