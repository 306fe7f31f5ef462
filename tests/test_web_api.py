"""The JSON API: /api/ask, /api/search, /api/doc, errors as {"error": ...}, offline docs."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medcite.chat.answer import MAX_QUESTION_CHARS
from medcite.index.reader import open_index


def test_api_ask_answers_with_quotes_and_linked_citations(
    client: TestClient, index_root: Path
) -> None:
    response = client.post("/api/ask", json={"question": "how is glaucoma treated?"})
    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "answered"
    assert body["quotes"] and body["citations"]
    assert body["disclaimer"] and 0 <= body["confidence"] <= 1
    assert len(body["conversation_id"]) >= 16
    index = open_index(index_root)
    for quote in body["quotes"]:
        document = index.document(quote["doc_id"])
        assert document is not None
        assert document.text[quote["start"] : quote["end"]] == quote["text"]
    first = body["citations"][0]
    assert first["number"] == 1
    assert (
        first["link"] == f"/doc/{first['doc_id']}?start={first['start']}&end={first['end']}#quote"
    )
    assert first["url"] == "https://medlineplus.gov/glaucoma.html"
    assert {"title", "source", "heading", "section_id"} <= first.keys()


def test_api_ask_follow_up_resolves_through_the_conversation_id(client: TestClient) -> None:
    first = client.post("/api/ask", json={"question": "what is glaucoma?"}).json()
    follow = client.post(
        "/api/ask",
        json={"question": "what are its symptoms?", "conversation_id": first["conversation_id"]},
    ).json()
    assert follow["searched_for"] == "what are its symptoms? (Glaucoma)"
    assert follow["conversation_id"] == first["conversation_id"]
    alone = client.post("/api/ask", json={"question": "what are its symptoms?"}).json()
    assert alone["kind"] == "clarify", "a new conversation has no topic to point back at"


def test_api_ask_source_filter(client: TestClient) -> None:
    body = client.post(
        "/api/ask", json={"question": "how is glaucoma treated?", "sources": ["NHLBI"]}
    ).json()
    assert {c["doc_id"] for c in body["citations"]} <= {"ASTH_1"}
    assert {s["doc_id"] for s in body["suggestions"]} <= {"ASTH_1"}


def test_api_ask_not_covered_lists_suggestions(client: TestClient) -> None:
    body = client.post("/api/ask", json={"question": "how do I fix my car?"}).json()
    assert body["kind"] == "not_covered" and not body["quotes"]
    assert body["message"] and body["suggestions"]


def test_api_ask_emergency(client: TestClient) -> None:
    body = client.post("/api/ask", json={"question": "my dad has crushing chest pain"}).json()
    assert body["kind"] == "emergency" and body["message"]
    assert body["emergency"] == "cardiac" and body["emergency_name"]


def test_api_citation_url_is_dropped_unless_http(client: TestClient) -> None:
    body = client.post("/api/ask", json={"question": "what is xsstopic?"}).json()
    assert body["citations"] and all(c["url"] == "" for c in body["citations"])


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"question": ""}, 422),
        ({"question": "x" * (MAX_QUESTION_CHARS + 1)}, 422),
        ({}, 422),
        ({"question": 5}, 422),
        ({"question": "ok?", "conversation_id": "../../bad"}, 422),
        ({"question": "ok?", "sources": "NHLBI"}, 422),
        ({"question": "   "}, 400),
    ],
)
def test_api_ask_rejects_bad_input_with_a_json_error(
    client: TestClient, payload: dict, status: int
) -> None:
    response = client.post("/api/ask", json=payload)
    assert response.status_code == status
    assert list(response.json()) == ["error"] and response.json()["error"]


def test_api_ask_rejects_malformed_json(client: TestClient) -> None:
    response = client.post(
        "/api/ask", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422 and "error" in response.json()


def test_api_search_returns_hits(client: TestClient) -> None:
    response = client.get("/api/search", params={"q": "glaucoma", "k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == len(body["hits"]) <= 3
    hit = body["hits"][0]
    assert hit["doc_id"] == "GLAU_1"
    assert set(hit) >= {
        "doc_id",
        "title",
        "url",
        "source",
        "section_id",
        "heading",
        "start",
        "end",
        "text",
        "score",
    }


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_api_search_modes(client: TestClient, mode: str) -> None:
    assert client.get("/api/search", params={"q": "asthma", "mode": mode}).json()["mode"] == mode


def test_api_search_source_filter(client: TestClient) -> None:
    hits = client.get("/api/search", params={"q": "treated", "source": "NHLBI"}).json()["hits"]
    assert hits and {h["source"] for h in hits} == {"NHLBI"}


@pytest.mark.parametrize(
    "params",
    [
        {"q": "x", "k": 0},
        {"q": "x", "k": 101},
        {"q": "x", "k": "many"},
        {"q": ""},
        {"q": "x" * 1001},
        {},
        {"q": "x", "mode": "psychic"},
    ],
)
def test_api_search_rejects_bad_parameters(client: TestClient, params: dict) -> None:
    response = client.get("/api/search", params=params)
    assert response.status_code == 422
    assert "error" in response.json()


def test_api_search_blank_query_is_400(client: TestClient) -> None:
    response = client.get("/api/search", params={"q": "   "})
    assert response.status_code == 400 and response.json() == {"error": "the query is empty"}


def test_api_doc_returns_the_article_with_sections(client: TestClient) -> None:
    body = client.get("/api/doc/GLAU_1").json()
    assert body["id"] == "GLAU_1" and body["title"] == "Glaucoma"
    assert [s["heading"] for s in body["sections"]] == ["Overview", "Symptoms", "Treatment"]
    for section in body["sections"]:
        assert body["text"][section["start"] : section["end"]]
    assert "metadata" not in body  # the origin path on the server is not published


@pytest.mark.parametrize("doc_id", ["NOPE", "%2E%2E", "a%20b"])
def test_api_doc_unknown_is_a_json_404(client: TestClient, doc_id: str) -> None:
    response = client.get(f"/api/doc/{doc_id}")
    assert response.status_code == 404
    assert response.json() == {"error": "there is no article with this id"}


def test_unknown_api_route_is_a_json_404(client: TestClient) -> None:
    response = client.get("/api/nothing-here")
    assert response.status_code == 404 and "error" in response.json()


def test_openapi_schema_and_offline_docs_page(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/api/ask", "/api/search", "/api/doc/{doc_id}", "/api/admin/reload"} <= set(
        schema["paths"]
    )
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "/static/vendor/swagger/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower() and "https://" not in docs.text
    assert client.get("/redoc").status_code == 404


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["generation"] == 1 and ready["documents"] == 4
