"""The Python API that evaluation scripts use: ``import medcite; medcite.open_index(...)``."""

from __future__ import annotations

import json
from pathlib import Path

import medcite
from medcite.chat.evaluation.metrics import reciprocal_rank
from medcite.chat.types import EMERGENCY, Answer
from medcite.index.testing import FakeEmbedder
from medcite.index.types import Hit


def test_open_index_searches_and_answers_with_the_shared_dataclasses(index_root: Path) -> None:
    with medcite.open_index(index_root, embedder="fake") as index:
        hits = index.search("glaucoma eye pressure", k=3)
        assert hits and all(isinstance(hit, Hit) for hit in hits)
        assert len(hits) <= 3
        lexical = index.search("glaucoma eye pressure", k=3, mode="lexical")
        assert lexical[0].passage.doc_id == hits[0].passage.doc_id
        answer = index.ask("how is glaucoma treated with eye drops?")
        assert isinstance(answer, Answer)
        for quote in answer.quotes:
            document = index.index.document(quote.doc_id)
            assert quote.text == document.text[quote.start : quote.end]
        assert index.ask("crushing chest pain right now").kind == EMERGENCY


def test_the_readme_example_scores_a_question_file(index_root: Path, tmp_path: Path) -> None:
    questions = tmp_path / "questions.jsonl"
    rows = [{"id": "q1", "question": "glaucoma eye pressure", "article_id": "GLAU_1"}]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    # The README's example, with the fake embedder instead of the default model:
    index = medcite.open_index(index_root, embedder=FakeEmbedder())
    scores = []
    for line in questions.read_text().splitlines():
        question = json.loads(line)
        ranked = [hit.passage.doc_id for hit in index.search(question["question"], k=10)]
        scores.append(reciprocal_rank({question["article_id"]}, ranked, k=10))
    index.close()
    assert sum(scores) / len(scores) == 1.0
