"""Crash safety of ingest: a run that dies at any point leaves the previous generation serving,
and a re-run completes and equals a clean build.

Two ways to die: an exception at each crash point in turn (deterministic, in process), and
SIGKILL of a real `medcite ingest` process at random moments (the reduced form of
``bench/bench_kill.py``, whose trial code this test runs).
"""

from __future__ import annotations

import importlib.util
import inspect
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from medcite.index import layout, store, vectors
from medcite.index.testing import FakeEmbedder, write_jsonl
from medcite.ingest import pipeline
from medcite.ingest.pipeline import ingest

BENCH_KILL = Path(__file__).resolve().parents[1] / "bench" / "bench_kill.py"


def load_bench_kill() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_kill", BENCH_KILL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


bench_kill = load_bench_kill()


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


def crash_points() -> list[tuple[Any, str]]:
    """The functions an ingest calls on its way to disk, where a crash may land between two:
    every public function of the store (whatever the schema needs), saving the vectors, and
    each step of the generation switch."""
    points: list[tuple[Any, str]] = [
        (store, name)
        for name, value in vars(store).items()
        if inspect.isfunction(value) and value.__module__ == store.__name__ and name[0] != "_"
    ]
    points += [(vectors, "save")]
    points += [
        (layout, name)
        for name in ("new_staging_dir", "write_manifest", "_fsync_path", "remove_old_generations")
    ]
    return points + [(layout.os, "replace")]


def crash_at(monkeypatch: pytest.MonkeyPatch, step: int) -> Callable[[], int]:
    """Make the ``step``-th call of a crash point (from 1) raise ``Crash``; returns a counter."""
    calls = 0

    def wrap(function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == step:
                raise Crash(f"crash at step {step} ({function.__name__})")
            return function(*args, **kwargs)

        return wrapped

    for owner, name in crash_points():
        monkeypatch.setattr(owner, name, wrap(getattr(owner, name)))
    # pipeline imported the modules, not the functions, so the patches above reach it.
    assert pipeline.store is store and pipeline.layout is layout
    return lambda: calls


def test_a_crash_at_every_step_leaves_a_whole_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = write_jsonl(tmp_path / "base.jsonl", bench_kill.synthetic_articles(6, seed=3))
    extra = write_jsonl(tmp_path / "extra.jsonl", bench_kill.synthetic_articles(6, seed=4, first=6))
    embedder = FakeEmbedder()
    base_root = tmp_path / "base"
    ingest([base], base_root, embedder)
    clean_root = tmp_path / "clean"
    shutil.copytree(base_root, clean_root)
    ingest([extra], clean_root, embedder)
    old, new = bench_kill.read_content(base_root), bench_kill.read_content(clean_root)

    step, outcomes = 0, []
    while True:
        step += 1
        root = tmp_path / f"step-{step}"
        shutil.copytree(base_root, root)
        with monkeypatch.context() as patch:
            calls = crash_at(patch, step)
            try:
                ingest([extra], root, embedder)
            except Crash:
                crashed = True
            else:
                crashed = False
        served = bench_kill.read_content(root)
        expected = old if served.generation == old.generation else new
        assert served.same_as(expected) == [], f"after a crash at step {step}"
        outcomes.append(served.generation)
        ingest([extra], root, embedder)
        assert bench_kill.read_content(root).same_as(new) == [], f"re-run after step {step}"
        assert not list(root.glob("gen-*.staging"))
        if not crashed:
            break
        assert calls() == step
    assert step > 20, "the ingest should pass many crash points"
    # Crashes before the pointer switch serve generation 1, the ones after it generation 2.
    assert outcomes[0] == 1 and outcomes[-1] == 2
    assert outcomes == sorted(outcomes)


def test_sigkill_at_random_moments_never_loses_or_mixes_the_index(tmp_path: Path) -> None:
    report = bench_kill.run_trials(tmp_path, trials=20, base=30, extra=90, seed=11, log=False)
    assert len(report.trials) == 20
    failures = [f"trial {t.number} ({t.phase}): {t.problems}" for t in report.failed]
    assert failures == []
    assert {t.served_generation for t in report.trials} <= {1, 2}
    assert all(t.rerun_generation >= 2 for t in report.trials)
    print(f"kill phases: {report.phases()}; unkilled run {report.unkilled_seconds:.2f} s")
