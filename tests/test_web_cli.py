"""The `medcite` command before any index is read: settings from a bad environment, and
the network addresses `medcite serve` refuses to open staff pages on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from medcite.web import app as web_app
from medcite.web import cli


@pytest.fixture(autouse=True)
def no_medcite_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MEDCITE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def uvicorn_runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What uvicorn was asked to serve, recorded instead of served."""
    runs: list[dict[str, Any]] = []
    monkeypatch.setattr(web_app.uvicorn, "run", lambda app, **options: runs.append(options))
    return runs


@pytest.mark.parametrize(
    ("host", "environment"),
    [
        ("0.0.0.0", {}),
        ("::", {}),
        ("192.0.2.10", {}),
        ("medcite.example.org", {}),
        ("0.0.0.0", {"MEDCITE_STAFF_PASSWORD": ""}),
        (None, {"MEDCITE_HOST": "0.0.0.0"}),
    ],
)
def test_serve_on_a_network_address_without_a_staff_password_refuses_to_start(
    host: str | None,
    environment: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    uvicorn_runs: list[dict[str, Any]],
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    argv = ["--embedder", "fake", "serve", "--index", str(tmp_path)]
    argv += ["--host", host] if host else []
    assert cli.main(argv) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"medcite: error: refusing to serve on {host or '0.0.0.0'} without")
    assert "MEDCITE_STAFF_PASSWORD" in line and "--insecure-open-staff" in line
    assert uvicorn_runs == []


@pytest.mark.parametrize(
    ("options", "environment"),
    [
        (["--host", "127.0.0.1"], {}),
        (["--host", "localhost"], {}),
        (["--host", "::1"], {}),
        (["--host", "0.0.0.0"], {"MEDCITE_STAFF_PASSWORD": "s3cret"}),
        (["--host", "0.0.0.0", "--insecure-open-staff"], {}),
    ],
)
def test_serve_starts_on_loopback_with_a_password_or_when_told_to_open_staff_pages(
    options: list[str],
    environment: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    uvicorn_runs: list[dict[str, Any]],
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["--embedder", "fake", "serve", "--index", str(tmp_path), *options]) == 0
    [run] = uvicorn_runs
    assert run["host"] == options[1] and run["port"] == 8000


@pytest.mark.parametrize("argv", [["--help"], ["serve", "--help"], ["ingest", "--help"]])
def test_help_works_whatever_the_environment(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MEDCITE_PORT", "eighty")
    monkeypatch.setenv("MEDCITE_MAX_IN_FLIGHT", "-1")
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("usage: medcite")


def test_a_bad_environment_value_is_one_line_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MEDCITE_PORT", "eighty")
    assert cli.main(["info", "--index", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "medcite: error: MEDCITE_PORT: Input should be a valid integer, unable to parse string"
        " as an integer\n"
    )
    monkeypatch.setenv("MEDCITE_QUERY_THREADS", "0")
    assert cli.main(["info", "--index", str(tmp_path)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("medcite: error: MEDCITE_PORT: ")
    assert "; MEDCITE_QUERY_THREADS: Input should be greater than or equal to 1" in line


def test_the_installed_command_prints_no_traceback_for_a_bad_environment(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MEDCITE_")}
    environment["MEDCITE_PORT"] = "eighty"
    command = [sys.executable, "-m", "medcite.web.cli"]
    shown = subprocess.run(
        [*command, "--help"], env=environment, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0 and shown.stdout.startswith("usage: medcite")
    failed = subprocess.run(
        [*command, "info", "--index", str(tmp_path)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 2
    assert failed.stderr.startswith("medcite: error: MEDCITE_PORT: ")
    assert len(failed.stderr.splitlines()) == 1
