"""Crash safety of `medcite ingest`: kill it with SIGKILL at random moments and check the index.

    python bench/bench_kill.py [--trials 100] [--base 300] [--extra 900] [--seed 1]

Builds an index of ``--base`` synthetic articles (generation 1), then, for each trial, copies
it and runs ``medcite --embedder fake ingest extra.jsonl`` over the copy as a subprocess,
killing it after a delay drawn from a seeded RNG (uniform from 0.2 to 1.1 times an unkilled
run's duration: a few kills land while it starts, most while it writes, some after the switch).
After each kill:

- the index opens (manifest and checksums verified) and serves a search;
- it holds exactly generation 1 (the base build) or exactly the complete new generation
  (documents with their checksums, passage ids and offsets, stored vectors, FAISS vectors,
  and the rows of every other table in the store), never a mix;
- a re-run of the same ingest completes and equals a clean build, with no staging left.

Writes bench/results/kill.json (or ``--out``) and exits 1 if any trial failed.
``tests/test_ingest_crash.py`` runs the same trials, fewer and smaller, in CI.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def python_path() -> str:
    """PYTHONPATH for a child process: this checkout first, then whatever was set."""
    return os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))


sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
from common import machine, print_table  # noqa: E402

from medcite.chat.retrieve import search  # noqa: E402
from medcite.index import layout  # noqa: E402
from medcite.index.errors import MedciteError  # noqa: E402
from medcite.index.reader import open_index  # noqa: E402
from medcite.index.testing import FakeEmbedder, article, write_jsonl  # noqa: E402
from medcite.ingest.pipeline import ingest  # noqa: E402

WORDS = (
    "blood pressure heart lung kidney liver eye skin bone nerve muscle joint brain gene "
    "infection fever pain swelling cough rash fatigue treatment medicine surgery therapy "
    "diagnosis symptom cause risk child adult older pregnancy diet exercise sleep stress "
    "chronic acute rare common severe mild early late test scan screening vaccine"
)
VOCABULARY = WORDS.split()
HEADINGS = ("Overview", "Symptoms", "Causes", "Diagnosis", "Treatment")


def synthetic_articles(count: int, seed: int, first: int = 0) -> list[dict]:
    """``count`` corpus records with five sections of about 120 words each, from a seeded RNG."""
    rng = random.Random(seed)
    records = []
    for number in range(first, first + count):
        words = VOCABULARY + [f"term{number}", f"topic{number % 97}"]
        sections = []
        for heading in HEADINGS:
            sentences = [
                " ".join(rng.choice(words) for _ in range(12)).capitalize() + "." for _ in range(10)
            ]
            sections.append((heading, " ".join(sentences)))
        records.append(
            article(f"SYN_{number:06d}", f"Condition {number}", sections, source="Synthetic")
        )
    return records


@dataclass(frozen=True)
class Content:
    """What an index holds, independent of generation numbers, dates and row order."""

    generation: int
    documents: dict[str, str]  # id -> checksum
    passages: dict[str, tuple[str, int, int, str]]  # id -> doc id, start, end, section id
    stored_vectors: dict[str, bytes]  # passage id -> vector in the store
    faiss_vectors: dict[str, bytes]  # passage id -> vector in the FAISS index
    tables: dict[str, str]  # every other table (word counts, labels...) -> digest of its rows

    def same_as(self, other: Content) -> list[str]:
        """What differs from ``other`` (empty when the two hold the same corpus)."""
        problems = []
        for name in ("documents", "passages", "stored_vectors", "faiss_vectors", "tables"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                missing = len(theirs.keys() - mine.keys())
                extra = len(mine.keys() - theirs.keys())
                changed = sum(1 for k in mine.keys() & theirs.keys() if mine[k] != theirs[k])
                problems.append(
                    f"{name} differ: {missing} missing, {extra} extra, {changed} changed"
                )
        return problems


def read_content(root: Path) -> Content:
    """The content of the current generation, opened as the server opens it (verified)."""
    index = open_index(root, model=FakeEmbedder().name)
    try:
        conn = sqlite3.connect(
            f"file:{index.directory / layout.STORE_FILE}?mode=ro&immutable=1", uri=True
        )
        try:
            documents = dict(conn.execute("SELECT id, checksum FROM documents").fetchall())
            rows = conn.execute(
                "SELECT rowid, id, doc_id, start_char, end_char, section_id, vector FROM passages"
            ).fetchall()
            tables = other_tables(conn)
        finally:
            conn.close()
        passages = {row[1]: (row[2], row[3], row[4], row[5]) for row in rows}
        stored = {row[1]: bytes(row[6]) for row in rows}
        faiss_vectors = {
            row[1]: np.asarray(index.vector_index.reconstruct(int(row[0])), np.float32).tobytes()
            for row in rows
        }
        if index.vector_index.ntotal != len(rows):
            faiss_vectors["<count>"] = str(index.vector_index.ntotal).encode()
        return Content(index.generation, documents, passages, stored, faiss_vectors, tables)
    finally:
        index.close()


def other_tables(conn: sqlite3.Connection) -> dict[str, str]:
    """A digest of the rows of each table besides documents and passages, whatever the schema
    holds (FTS5's own tables are left out: their layout depends on the order of writes)."""
    names = [
        row[0]
        for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if row[0] not in ("documents", "passages")
        and not row[0].startswith(("sqlite_", "passages_fts"))
    ]
    digests = {}
    for name in names:
        rows = sorted(repr(row) for row in conn.execute(f'SELECT * FROM "{name}"'))
        digest = hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]
        digests[name] = f"{len(rows)} rows, {digest}"
    return digests


def ingest_command(corpus: Path, root: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "medcite.web.cli",
        "--embedder",
        "fake",
        "ingest",
        str(corpus),
    ] + (["--index", str(root)])


def run_ingest(corpus: Path, root: Path) -> float:
    """Run the ingest subprocess to the end; its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run(
        ingest_command(corpus, root),
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ | {"PYTHONPATH": python_path()},
    )
    return time.perf_counter() - started


@dataclass
class Trial:
    number: int
    delay: float
    phase: str = ""  # where the kill landed
    served_generation: int = 0
    served_documents: int = 0
    rerun_generation: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class KillReport:
    trials: list[Trial]
    unkilled_seconds: float
    base_documents: int
    new_documents: int

    @property
    def failed(self) -> list[Trial]:
        return [t for t in self.trials if not t.ok]

    def phases(self) -> dict[str, int]:
        return dict(Counter(t.phase for t in self.trials))


def phase_after_kill(root: Path, finished: bool) -> str:
    """Where in the ingest the kill landed, read from what it left on disk."""
    if finished:
        return "after the run ended"
    current = layout.current_generation(root)
    if current is not None and current.name != layout.generation_name(1):
        return "after the switch"
    if (root / layout.generation_name(2)).is_dir():
        return "between rename and switch"
    if any(root.glob("gen-*.staging")):
        return "while writing"
    return "before writing"


def run_trials(
    workdir: Path,
    *,
    trials: int,
    base: int,
    extra: int,
    seed: int,
    log: bool = True,
) -> KillReport:
    """Build the references, then run ``trials`` kill-and-check trials in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    base_corpus = write_jsonl(workdir / "base.jsonl", synthetic_articles(base, seed))
    extra_corpus = write_jsonl(
        workdir / "extra.jsonl", synthetic_articles(extra, seed + 1, first=base)
    )
    embedder = FakeEmbedder()
    base_root = workdir / "base-index"
    ingest([base_corpus], base_root, embedder)
    old = read_content(base_root)
    clean_root = workdir / "clean-index"
    shutil.copytree(base_root, clean_root)
    unkilled = run_ingest(extra_corpus, clean_root)
    new = read_content(clean_root)
    if log:
        print(
            f"base {len(old.documents)} documents, complete {len(new.documents)} documents; "
            f"an unkilled ingest takes {unkilled:.2f} s",
            file=sys.stderr,
        )

    rng = random.Random(seed)
    results = []
    for number in range(1, trials + 1):
        trial = Trial(number, round(rng.uniform(0.2 * unkilled, 1.1 * unkilled), 3))
        root = workdir / f"trial-{number:03d}"
        shutil.copytree(base_root, root)
        process = subprocess.Popen(
            ingest_command(extra_corpus, root),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=os.environ | {"PYTHONPATH": python_path()},
        )
        try:
            process.wait(timeout=trial.delay)
            finished = True
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            finished = False
        trial.phase = phase_after_kill(root, finished)
        check_trial(trial, root, extra_corpus, old, new, embedder)
        results.append(trial)
        if log:
            state = "ok" if trial.ok else "FAILED: " + "; ".join(trial.problems)
            print(
                f"trial {number:3d}: killed at {trial.delay:.2f} s ({trial.phase}), served "
                f"generation {trial.served_generation}: {state}",
                file=sys.stderr,
            )
        shutil.rmtree(root, ignore_errors=True)
    return KillReport(results, unkilled, len(old.documents), len(new.documents))


def check_trial(
    trial: Trial, root: Path, corpus: Path, old: Content, new: Content, embedder: FakeEmbedder
) -> None:
    """The assertions of one trial, recorded as ``trial.problems``."""
    try:
        served = read_content(root)
        index = open_index(root, model=embedder.name)
        try:
            if not search(index, embedder, "heart treatment", k=5):
                trial.problems.append("the served index found nothing for a common query")
        finally:
            index.close()
    except MedciteError as error:
        trial.problems.append(f"the index did not open after the kill: {error}")
        return
    trial.served_generation = served.generation
    trial.served_documents = len(served.documents)
    if served.generation == old.generation:
        trial.problems += [f"old generation: {p}" for p in served.same_as(old)]
    elif len(served.documents) == len(new.documents):
        trial.problems += [f"new generation: {p}" for p in served.same_as(new)]
    else:
        trial.problems.append(
            f"generation {served.generation} holds {len(served.documents)} documents: neither "
            f"the previous ({len(old.documents)}) nor the complete build ({len(new.documents)})"
        )
    try:
        rerun = ingest([corpus], root, embedder)
    except MedciteError as error:
        trial.problems.append(f"the re-run failed: {error}")
        return
    trial.rerun_generation = rerun.generation
    trial.problems += [f"after the re-run: {p}" for p in read_content(root).same_as(new)]
    leftovers = sorted(p.name for p in root.glob("gen-*.staging"))
    if leftovers:
        trial.problems.append(f"staging left after the re-run: {leftovers}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--base", type=int, default=300, help="articles in generation 1")
    parser.add_argument("--extra", type=int, default=900, help="articles the killed run adds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, help="working directory (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "kill.json")
    args = parser.parse_args()

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="medcite-kill-") as temporary:
        workdir = args.work or Path(temporary)
        report = run_trials(
            workdir, trials=args.trials, base=args.base, extra=args.extra, seed=args.seed
        )
    rows = [{"phase": phase, "trials": count} for phase, count in sorted(report.phases().items())]
    print_table(rows)
    served = Counter(t.served_generation for t in report.trials)
    print(
        f"{len(report.trials)} trials, {len(report.failed)} failed; served generation 1 after "
        f"{served[1]} kills and the complete new one after {len(report.trials) - served[1]}; "
        f"an unkilled ingest took {report.unkilled_seconds:.2f} s"
    )
    data = {
        "machine": machine(),
        "trials": len(report.trials),
        "failed": len(report.failed),
        "seed": args.seed,
        "base_documents": report.base_documents,
        "new_documents": report.new_documents,
        "unkilled_ingest_seconds": round(report.unkilled_seconds, 3),
        "phases": report.phases(),
        "served_previous_generation": served[1],
        "served_new_generation": len(report.trials) - served[1],
        "seconds": round(time.perf_counter() - started, 1),
        "results": [asdict(t) for t in report.trials],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    sys.exit(1 if report.failed else 0)


if __name__ == "__main__":
    main()
