"""Which landing files are ready to load: the rule behind the sensor ``new_landing_files``.

A file that is still being copied, uploaded or written by an export must not start a run: the loader would
read half of it. Writers change a file's modification time with every write, so a file whose modification
time is at least ``settle_seconds`` in the past has kept both its size and its modification time for that
long: it is taken as whole (the same rule as Apache NiFi's "minimum file age"). Files that only carry
data once renamed are never looked at: ``*.part`` and ``*.tmp`` (downloads and copies in progress), and
hidden files and folders (editor and copy leftovers, an importer's reports in ``.imports/``).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.loading.reading import SUPPORTED_SUFFIXES

# Suffixes of files that are still being written under their temporary name.
IN_PROGRESS_SUFFIXES = (".part", ".tmp")


@dataclass(frozen=True)
class LandingFile:
    """One landing file as the watcher saw it."""

    path: str  # relative to the landing folder, POSIX separators
    size: int
    mtime_ns: int


@dataclass
class LandingState:
    """The landing folder at one moment: files ready to load, and files still settling."""

    ready: list[LandingFile] = field(default_factory=list)
    settling: list[LandingFile] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        """A digest of every ready file's path, size and modification time: what the sensor's cursor keeps."""
        text = "\n".join(f"{f.path}:{f.size}:{f.mtime_ns}" for f in self.ready)
        return hashlib.sha256(text.encode()).hexdigest()


def is_candidate(relative: Path) -> bool:
    """Whether a path (relative to the landing folder) may hold data: a supported format, not a file in
    progress, nothing hidden on the way."""
    name = relative.name.lower()
    return (
        relative.suffix.lower() in SUPPORTED_SUFFIXES
        and not name.endswith(IN_PROGRESS_SUFFIXES)
        and not any(part.startswith(".") for part in relative.parts)
    )


def landing_state(root: Path, settle_seconds: float, now: float | None = None) -> LandingState:
    """Every candidate file under ``root``, split into ready (unmodified for ``settle_seconds``, measured
    at ``now``, default the current time) and settling, sorted by path."""
    now = time.time() if now is None else now
    state = LandingState()
    if not root.is_dir():
        return state
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not is_candidate(relative):
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:  # renamed or removed while we looked
            continue
        if not path.is_file():
            continue
        seen = LandingFile(relative.as_posix(), stat.st_size, stat.st_mtime_ns)
        # A modification time in the future (a clock ahead on a file share) counts as just modified.
        settled = now - stat.st_mtime_ns / 1e9 >= settle_seconds
        (state.ready if settled else state.settling).append(seen)
    return state


def run_key_for(state: LandingState, cursor: str | None) -> tuple[str | None, str]:
    """The run key to request for ``state`` given the last one (the cursor), or None, and why.

    No run while any file is settling (the run would load every file, the half-copied one too), none for
    an empty folder, and none when the ready files are exactly those of the last run.
    """
    if state.settling:
        names = ", ".join(f.path for f in state.settling[:5]) + (" ..." if len(state.settling) > 5 else "")
        return None, f"waiting for {len(state.settling)} file(s) still being written to settle: {names}"
    if not state.ready:
        return None, "no landing files"
    if state.fingerprint == cursor:
        return None, f"no new or changed landing files ({len(state.ready)} unchanged)"
    return state.fingerprint, f"{len(state.ready)} landing file(s) ready, new or changed since the last run"
