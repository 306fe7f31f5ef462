"""The index directory on disk: numbered generations, a manifest each, and a CURRENT pointer.

    INDEX/CURRENT            name of the generation being served
    INDEX/gen-000002/        manifest.json, store.sqlite, vectors.faiss
                             (and abstain-policy.json once `medcite calibrate` has run)
    INDEX/.lock              held while an ingest writes

A new generation is written in a temporary directory, fsynced, renamed, and only then does
CURRENT switch to it (os.replace). A crash at any point leaves the previous generation serving.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from medcite.index.errors import (
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    MedciteError,
)

FORMAT = "medcite-index"
FORMAT_VERSION = 1
STORE_FILE = "store.sqlite"
VECTORS_FILE = "vectors.faiss"
MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "CURRENT"
# Written by `medcite calibrate` after the generation is committed, so it is not in the
# manifest's checksums; an ingest carries it into the next generation.
POLICY_FILE = "abstain-policy.json"
GENERATIONS_KEPT = 2
# True advice: an ingest builds on the newest generation that passes its checks (or, when none
# does, on the files alone) and switches to the result.
REPAIR_ADVICE = (
    "Re-run `medcite ingest PATH...` to repair it: it builds a new generation on the newest "
    "intact one (`medcite info` lists them)."
)


@dataclass(frozen=True)
class Manifest:
    generation: int
    model: str
    dim: int
    documents: int
    passages: int
    vector_index: str
    max_words: int
    created: str
    files: tuple[tuple[str, str, int], ...]  # (name, sha256, bytes)

    def to_json(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "generation": self.generation,
            "created": self.created,
            "model": {"name": self.model, "dim": self.dim},
            "counts": {"documents": self.documents, "passages": self.passages},
            "vector_index": self.vector_index,
            "max_words": self.max_words,
            "files": {name: {"sha256": sha, "bytes": size} for name, sha, size in self.files},
        }


def generation_name(number: int) -> str:
    return f"gen-{number:06d}"


def current_generation(root: Path) -> Path | None:
    """The generation CURRENT points at, or None for an empty index directory."""
    pointer = root / CURRENT_FILE
    if not pointer.exists():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    if not name.startswith("gen-") or "/" in name:
        raise IndexCorruptError(f"{pointer} does not name a generation (it says {name!r})")
    return root / name


def current_model(root: Path) -> str | None:
    """The embedding model the current generation's manifest names, read without verifying
    the files; None when there is no readable manifest (a new or broken index)."""
    try:
        directory = current_generation(root)
        return read_manifest(directory).model if directory is not None else None
    except (IndexCorruptError, OSError):
        return None


def policy_path(directory: Path) -> Path:
    """The abstention policy file of the generation in ``directory`` (it may not exist)."""
    return directory / POLICY_FILE


def next_generation_number(root: Path) -> int:
    numbers = [int(p.name[4:10]) for p in root.glob("gen-*") if p.name[4:10].isdigit()]
    return max(numbers, default=0) + 1


def file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest(), path.stat().st_size


def write_manifest(directory: Path, manifest: Manifest) -> None:
    path = directory / MANIFEST_FILE
    path.write_text(json.dumps(manifest.to_json(), indent=2) + "\n", encoding="utf-8")


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IndexCorruptError(f"{path} is missing") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexCorruptError(f"{path} cannot be read: {exc}") from exc
    return parse_manifest(data, str(path))


def parse_manifest(data: object, where: str) -> Manifest:
    """The manifest in ``data`` (``Manifest.to_json``'s shape), read from ``where``."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise IndexCorruptError(f"{where} is not a medcite index manifest")
    if data.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"{where} has index format version {data.get('format_version')!r}; this medcite "
            f"reads version {FORMAT_VERSION}. Re-ingest into a new index."
        )
    try:
        return Manifest(
            generation=int(data["generation"]),
            model=str(data["model"]["name"]),
            dim=int(data["model"]["dim"]),
            documents=int(data["counts"]["documents"]),
            passages=int(data["counts"]["passages"]),
            vector_index=str(data["vector_index"]),
            max_words=int(data["max_words"]),
            created=str(data["created"]),
            files=tuple(
                (name, str(info["sha256"]), int(info["bytes"]))
                for name, info in sorted(data["files"].items())
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexCorruptError(f"{where} is missing a field or has a wrong one: {exc}") from exc


def verify_files(directory: Path, manifest: Manifest) -> None:
    """Check every file against its manifest checksum before anything parses it."""
    for name, sha, size in manifest.files:
        path = directory / name
        if not path.exists():
            raise IndexCorruptError(f"index file {path} is missing")
        actual_sha, actual_size = file_digest(path)
        if actual_size != size or actual_sha != sha:
            raise IndexCorruptError(
                f"index file {path} is corrupt: its checksum does not match the manifest "
                f"({actual_size} bytes, expected {size})"
            )


def open_generation(root: Path) -> tuple[Path, Manifest]:
    """The current generation directory and its verified manifest."""
    if not root.exists():
        raise IndexMissingError(
            f"no index at {root}. Build one with `medcite ingest PATH --index {root}`."
        )
    try:
        directory = current_generation(root)
        if directory is None:
            raise IndexMissingError(
                f"{root} holds no index yet. Build one with `medcite ingest PATH --index {root}`."
            )
        if not directory.is_dir():
            raise IndexCorruptError(
                f"{root / CURRENT_FILE} points at {directory.name}, which is missing"
            )
        manifest = read_manifest(directory)
        verify_files(directory, manifest)
    except IndexCorruptError as exc:
        raise IndexCorruptError(f"{exc}. {REPAIR_ADVICE}") from exc
    return directory, manifest


@dataclass(frozen=True)
class GenerationCheck:
    """A committed generation directory and whether it passes the checks a load makes."""

    directory: Path
    current: bool
    manifest: Manifest | None  # None when the manifest itself cannot be read
    problem: str = ""  # why it fails its checks; "" when intact

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def intact(self) -> bool:
        return not self.problem


def generation_dirs(root: Path) -> list[Path]:
    """Every committed generation directory (staging ones excluded), oldest first."""
    return sorted(
        p for p in root.glob("gen-*") if p.is_dir() and len(p.name) == 10 and p.name[4:].isdigit()
    )


def check_generations(root: Path) -> list[GenerationCheck]:
    """Every committed generation, newest first, checked as loading checks the current one:
    a manifest of this format, and every file matching its checksum."""
    try:
        current = current_generation(root)
    except IndexCorruptError:
        current = None
    checks = []
    for directory in reversed(generation_dirs(root)):
        manifest, problem = None, ""
        try:
            manifest = read_manifest(directory)
            verify_files(directory, manifest)
        except (IndexCorruptError, IndexMismatchError) as exc:
            problem = str(exc)
        checks.append(GenerationCheck(directory, directory == current, manifest, problem))
    return checks


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_generation(root: Path, staging: Path, manifest: Manifest) -> Path:
    """Make ``staging`` the current generation, atomically, and drop old generations."""
    write_manifest(staging, manifest)
    for path in staging.iterdir():
        _fsync_path(path)
    _fsync_path(staging)
    final = root / generation_name(manifest.generation)
    os.replace(staging, final)
    pointer_tmp = root / (CURRENT_FILE + ".tmp")
    pointer_tmp.write_text(final.name + "\n", encoding="utf-8")
    _fsync_path(pointer_tmp)
    os.replace(pointer_tmp, root / CURRENT_FILE)
    _fsync_path(root)
    remove_old_generations(root, keep=GENERATIONS_KEPT)
    return final


def remove_old_generations(root: Path, keep: int) -> None:
    current = current_generation(root)
    generations = generation_dirs(root)
    for path in generations[:-keep] if keep else generations:
        if path != current:
            shutil.rmtree(path, ignore_errors=True)


def remove_staging_dirs(root: Path) -> None:
    """Leftovers of an ingest that crashed: never served, safe to delete under the lock."""
    for path in root.glob("gen-*.staging"):
        shutil.rmtree(path, ignore_errors=True)
    (root / (CURRENT_FILE + ".tmp")).unlink(missing_ok=True)


def new_staging_dir(root: Path, number: int) -> Path:
    path = root / f"{generation_name(number)}.staging"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@contextlib.contextmanager
def writer_lock(root: Path) -> Iterator[None]:
    """One ingest at a time per index directory."""
    root.mkdir(parents=True, exist_ok=True)
    handle = (root / ".lock").open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise MedciteError(
                f"another ingest is writing to {root}; try again when it ends"
            ) from exc
        yield
    finally:
        handle.close()


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
