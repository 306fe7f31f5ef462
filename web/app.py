"""The web app: ``create_app(settings)`` builds it, ``serve(settings)`` runs it with uvicorn, in
one process or, with ``settings.workers`` above 1, in that many worker processes on one port
(each built by ``app_from_environment``)."""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path

import jinja2
import uvicorn
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from medcite.chat.answer import MAX_QUESTION_CHARS
from medcite.chat.conversation import Conversations, ConversationStore
from medcite.chat.conversation_db import DatabaseConversationStore
from medcite.chat.database import Database
from medcite.chat.feedback import FeedbackStore, feedback_database
from medcite.chat.types import Citation
from medcite.index.embedder import CachingEmbedder, Embedder, make_embedder
from medcite.index.reader import IndexHolder
from medcite.index.stores import index_model, opener
from medcite.index.threads import limit_threads
from medcite.web import routes_api, routes_doc, routes_ops, routes_patient, routes_staff
from medcite.web.config import (
    Settings,
    load_settings,
    settings_environment,
    store_config,
    triage_for,
)
from medcite.web.limits import install_limits
from medcite.web.schemas import safe_url
from medcite.web.security import (
    GuardMiddleware,
    SecurityHeadersMiddleware,
    install_error_handlers,
    loggable_path,
    refuse_open_staff,
    user_message,
)

logger = logging.getLogger("medcite.web")

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
# What each worker process of `medcite serve --workers N` runs: uvicorn imports it there.
APP_FACTORY = "medcite.web.app:app_from_environment"


def sentence(text: str) -> str:
    """An error message as a sentence: capital first letter, full stop at the end."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def by_section(citations: Sequence[Citation]) -> list[list[Citation]]:
    """Citations grouped by the article section a reader sees (article and heading), in order
    of first citation: three quotes from "Glaucoma, Overview" make one source with three
    links, not three sources that read the same."""
    groups: dict[tuple[str, str], list[Citation]] = {}
    for citation in citations:
        groups.setdefault((citation.doc_id, citation.heading), []).append(citation)
    return list(groups.values())


def make_templates(disclaimer: str, publisher: str) -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,  # every template, whatever its name; corpus and user text is data
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["disclaimer"] = disclaimer
    env.globals["publisher"] = publisher
    env.globals["max_question_chars"] = MAX_QUESTION_CHARS
    env.filters["http_url"] = safe_url
    env.filters["sentence"] = sentence
    env.filters["by_section"] = by_section
    return Jinja2Templates(env=env)


def create_app(settings: Settings, *, embedder: Embedder | None = None) -> FastAPI:
    """The medcite web app. The embedder (unless given, e.g. a fake in tests) and the index
    are loaded once, at start-up; a missing or broken index does not stop the app, it makes
    /readyz and the pages answer 503 with the reason until ``POST /api/admin/reload``."""

    store = store_config(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        limit_threads(settings.query_threads)
        model: Embedder = (
            embedder
            if embedder is not None
            else CachingEmbedder(
                await run_in_threadpool(
                    partial(
                        make_embedder,
                        settings.embedder,
                        index_model=index_model(settings.index, store),
                        threads=settings.query_threads,
                    )
                )
            )
        )
        holder = IndexHolder(settings.index, model.name, opener(store))
        await run_in_threadpool(holder.load)
        if holder.error is not None:
            logger.warning("%s", user_message(holder.error))
        app.state.embedder = model
        app.state.index_holder = holder
        yield
        database.close()

    app = FastAPI(
        title="medcite",
        summary="Answers health questions only with verbatim, cited quotes from NIH articles.",
        version="0.1.0",
        docs_url=None,  # the default page loads Swagger UI from a CDN; ours is in routes_api
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.triage = triage_for(settings)
    app.state.templates = make_templates(app.state.triage.locale.disclaimer, settings.publisher)
    database = feedback_database(settings.index, settings.database_url)
    app.state.conversations = conversation_store(settings, database)
    app.state.feedback = FeedbackStore(database)

    install_error_handlers(app)
    app.add_middleware(
        GuardMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_query_bytes=settings.max_query_bytes,
    )
    install_limits(app, settings)  # before the body is read; inside the security headers
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: every response gets them

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(routes_patient.router)
    app.include_router(routes_doc.router)
    app.include_router(routes_staff.router)
    app.include_router(routes_api.router)
    app.include_router(routes_api.docs_router)
    app.include_router(routes_ops.router)
    return app


def conversation_store(settings: Settings, database: Database) -> Conversations:
    """In this process's memory, unless conversations are shared (several workers, or a
    database URL that several servers may share): then in ``database``."""
    if settings.shares_conversations:
        return DatabaseConversationStore(database)
    return ConversationStore()


def app_from_environment() -> FastAPI:
    """The app of one worker process of ``serve``: its settings come from the MEDCITE_*
    variables ``serve`` set for it (``config.settings_environment``)."""
    return create_app(load_settings())


class DropQueryString(logging.Filter):
    """Access log lines without query strings (a search query may be a patient's question)
    and without anything personal in the path (``web.security.loggable_path``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], loggable_path(args[2].split("?", 1)[0]), *args[3:])
        return True


def log_config() -> dict[str, object]:
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["no_query"] = {"()": DropQueryString}
    config["handlers"]["access"]["filters"] = ["no_query"]
    config.setdefault("loggers", {})["medcite"] = {"handlers": ["default"], "level": "INFO"}
    return config


def serve(settings: Settings, *, open_staff: bool = False) -> None:
    """Run the app with uvicorn on ``settings.host:settings.port`` until interrupted, in
    ``settings.workers`` processes.

    Without a staff password, a host other than loopback is refused (a ``MedciteError``)
    unless ``open_staff``: the staff pages would be open to the network. When conversations
    are shared, a database that cannot be used is a ``DatabaseError`` before anything is
    served."""
    refuse_open_staff(settings, open_staff=open_staff)
    if settings.shares_conversations:
        database = feedback_database(settings.index, settings.database_url)
        try:
            database.check()
        finally:
            database.close()
    run = partial(
        uvicorn.run,
        host=settings.host,
        port=settings.port,
        log_config=log_config(),
        proxy_headers=False,
    )
    if settings.workers == 1:
        run(create_app(settings))
        return
    # Each worker process starts afresh and builds its own app from these settings.
    with environment(settings_environment(settings)):
        run(APP_FACTORY, factory=True, workers=settings.workers)


@contextmanager
def environment(variables: Mapping[str, str | None]) -> Iterator[None]:
    """``os.environ`` with ``variables`` set (None: unset) for the block, then as it was."""
    saved = {name: os.environ.get(name) for name in variables}
    try:
        for name, value in variables.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
