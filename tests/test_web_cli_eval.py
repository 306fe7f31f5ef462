"""`medcite eval --questions` on a file with gold answer spans: --split and --per-question."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medcite.index.testing import CORPUS
from medcite.web.cli import main


def _gold(doc_id: str, sentence: str) -> dict[str, object]:
    text = next(a for a in CORPUS if a["id"] == doc_id)["text"]
    start = text.index(sentence)
    return {"doc_id": doc_id, "start": start, "end": start + len(sentence)}


def _questions(tmp_path: Path) -> Path:
    rows = [
        {
            "id": "c1",
            "question": "How is glaucoma treated?",
            "kind": "answerable",
            "split": "check",
            "article_ids": ["GLAU_1"],
            "gold": [_gold("GLAU_1", "glaucoma is treated with eye drops")],
        },
        {
            "id": "t1",
            "question": "What is diabetes?",
            "kind": "answerable",
            "split": "tune",
            "article_ids": ["DIAB_1"],
            "gold": [_gold("DIAB_1", "diabetes is a disease")],
        },
        {
            "id": "c2",
            "question": "How should I store warfarin tablets?",
            "kind": "unanswerable",
            "split": "check",
            "category": "medicine",
        },
    ]
    path = tmp_path / "real.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _eval(index_root: Path, *args: str) -> int:
    return main(
        ["--embedder", "fake", "eval", "--index", str(index_root), "--mode", "lexical", *args]
    )


def test_eval_writes_one_row_per_question_of_the_chosen_split(
    index_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows_path, json_path = tmp_path / "rows.jsonl", tmp_path / "report.json"
    code = _eval(
        index_root,
        "--questions",
        str(_questions(tmp_path)),
        "--split",
        "check",
        "--per-question",
        str(rows_path),
        "--json",
        str(json_path),
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "real.jsonl (split check): 1 answerable, 1 unanswerable" in out
    assert "answerable questions with gold spans: 1" in out
    assert f"per question: 2 rows in {rows_path}" in out
    rows = [json.loads(line) for line in rows_path.read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in rows] == ["c1", "c2"]
    assert rows[0]["gold"] == [_gold("GLAU_1", "glaucoma is treated with eye drops")]
    assert {"answered_right", "gold_spans_hit", "quoted_chars_in_gold", "wrong_topic"} <= set(
        rows[0]["verdicts"]
    )
    for quote in rows[0]["quotes"]:
        text = next(a for a in CORPUS if a["id"] == quote["doc_id"])["text"]
        assert text[quote["start"] : quote["end"]] == quote["text"]
    assert rows[1]["expected"] == "unanswerable" and "abstained" in rows[1]["verdicts"]
    report = json.loads(json_path.read_text(encoding="utf-8"))
    assert report["split"] == "check"
    assert report["answers"]["gold"]["n"] == 1
    assert report["answers"]["gold"]["gold_spans"] == 1


def test_eval_split_of_a_file_without_splits_is_a_one_line_error(
    index_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "corpus-format.jsonl"
    path.write_text(json.dumps({"id": "q", "question": "What is asthma?", "article_id": "ASTH_1"}))
    assert _eval(index_root, "--questions", str(path), "--split", "tune") == 2
    err = capsys.readouterr().err
    assert err.startswith("medcite: error: ") and "no 'split' field" in err


def test_eval_refuses_per_question_rows_without_answers(
    index_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--questions", str(_questions(tmp_path)), "--no-answers"]
    assert _eval(index_root, *args, "--per-question", str(tmp_path / "rows.jsonl")) == 2
    assert "--no-answers" in capsys.readouterr().err
    assert not (tmp_path / "rows.jsonl").exists()
