"""The `medcite` command: parses arguments and calls one function per command."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from medcite.chat.types import SearchMode
from medcite.index.embedder import EMBEDDERS
from medcite.index.errors import InputError, MedciteError
from medcite.index.stores import STORES, StoreConfig
from medcite.index.types import VectorIndexKind
from medcite.web.config import (
    Settings,
    SettingsError,
    load_settings,
    store_config,
    triage_for,
)

if TYPE_CHECKING:
    from medcite.index.reader import Index

EXIT_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    # A bad MEDCITE_* value is reported only once the arguments are parsed: --help works
    # whatever the environment (its defaults are then the built-in ones).
    try:
        settings, problem = load_settings(), None
    except SettingsError as exc:
        settings, problem = Settings.model_construct(), exc
    parser = build_parser(settings)
    args = parser.parse_args(argv)
    if problem is not None:
        print(f"medcite: error: {problem}", file=sys.stderr)
        return EXIT_ERROR
    try:
        return int(args.run(args, settings) or 0)
    except MedciteError as exc:
        print(f"medcite: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("medcite: interrupted; the index being served was not changed", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medcite",
        description="Answers health questions with verbatim, cited quotes from medical articles.",
    )
    parser.add_argument(
        "--embedder",
        default=settings.embedder,
        choices=EMBEDDERS,
        help="the encoder: auto (default) is the one that built the index, and minilm-int8 "
        "(ONNX Runtime) for a new index; minilm is PyTorch fp32; fake is for tests",
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def index_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--index",
            type=Path,
            default=settings.index,
            help=f"index directory (default: $MEDCITE_INDEX or {settings.index})",
        )
        p.add_argument(
            "--store",
            choices=STORES,
            default=settings.store,
            help="where the index is served from: embedded (SQLite + FAISS in the index "
            "directory, the default) or milvus (ingest builds in the index directory, then "
            "publishes to Milvus); $MEDCITE_STORE",
        )
        p.add_argument(
            "--milvus-uri",
            default=settings.milvus_uri,
            metavar="URI",
            help="a Milvus server (http://host:19530) or Milvus Lite file (./medcite.db); "
            "default: $MEDCITE_MILVUS_URI, else milvus.db in the index directory. The token "
            "is read from $MEDCITE_MILVUS_TOKEN only",
        )
        p.add_argument(
            "--milvus-collection",
            default=settings.milvus_collection,
            metavar="NAME",
            help="the alias the index goes by in Milvus (default: $MEDCITE_MILVUS_COLLECTION "
            "or medcite)",
        )

    p = sub.add_parser("ingest", help="read files or directories into the index")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    index_option(p)
    p.add_argument("--prune", action="store_true", help="drop documents whose files are gone")
    p.add_argument("--max-words", type=int, default=160, help="passage length in words")
    p.add_argument(
        "--vector-index",
        choices=[kind.value for kind in VectorIndexKind],
        default=VectorIndexKind.AUTO.value,
    )
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="who reads, chunks and embeds: this process (default) or a Ray cluster "
        "(the ray extra); the index is the same either way",
    )
    p.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="a running Ray cluster (ray://host:10001 or auto); default: start Ray locally",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=cmd_ingest)

    p = sub.add_parser(
        "reencode",
        help="embed every passage of the index again with another encoder (--embedder; "
        "minilm-int8 by default), as a new generation",
    )
    index_option(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=cmd_reencode)

    p = sub.add_parser("search", help="search passages")
    p.add_argument("query")
    index_option(p)
    p.add_argument("-k", type=int, default=10)
    p.add_argument(
        "--mode", choices=[mode.value for mode in SearchMode], default=SearchMode.HYBRID.value
    )
    p.add_argument("--source", action="append", default=[], help="only this source (repeatable)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_search)

    p = sub.add_parser("ask", help="answer a question with cited quotes")
    p.add_argument("question")
    index_option(p)
    p.add_argument("--source", action="append", default=[], help="only this source (repeatable)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_ask)

    p = sub.add_parser(
        "eval", help="score retrieval and answers on a question file, or triage on messages"
    )
    p.add_argument(
        "--questions",
        type=Path,
        metavar="FILE",
        help="questions in corpus format, or with gold answer spans (bench/data/real)",
    )
    p.add_argument(
        "--triage",
        type=Path,
        metavar="FILE",
        help="messages labelled emergency / not_emergency: recall, false alarms and misses",
    )
    p.add_argument(
        "--help-lines",
        type=Path,
        metavar="FILE",
        help="messages labelled with the help line they need (crisis, poison, none)",
    )
    index_option(p)
    p.add_argument(
        "--mode", default="lexical,dense,hybrid", help="comma-separated modes (default: all three)"
    )
    p.add_argument("--depth", type=int, default=30, help="passages retrieved per question")
    p.add_argument("--warmup", type=int, default=5, help="calls per mode left out of latency")
    p.add_argument("--json", type=Path, metavar="OUT", help="write the report as JSON")
    p.add_argument(
        "--trec-run", type=Path, metavar="OUT", help="write OUT.<mode>.<level>.run and .qrels"
    )
    p.add_argument("--no-answers", action="store_true", help="skip the answer metrics")
    p.add_argument(
        "--split",
        choices=("tune", "check"),
        help="only the questions of this split (for a file whose questions have one)",
    )
    p.add_argument(
        "--per-question",
        type=Path,
        metavar="OUT.jsonl",
        help="write one row per question: its reply, quotes, gold spans and verdicts",
    )
    p.set_defaults(run=cmd_eval)

    p = sub.add_parser(
        "calibrate",
        help="fit when to answer and when to say 'not covered' to this index's questions",
    )
    p.add_argument(
        "--questions",
        type=Path,
        required=True,
        metavar="FILE",
        help="answerable and unanswerable questions, in corpus format or with 'kind'",
    )
    p.add_argument(
        "--split",
        choices=("tune", "check"),
        help="only the questions of this split (calibrate on tune, check with `medcite eval`)",
    )
    index_option(p)
    p.add_argument(
        "--answer-rate",
        type=float,
        default=0.9,
        help="share of the answerable questions the policy must answer (default: 0.9)",
    )
    p.set_defaults(run=cmd_calibrate)

    p = sub.add_parser("serve", help="serve the patient chat, staff search and JSON API")
    index_option(p)
    p.add_argument("--host", default=settings.host)
    p.add_argument("--port", type=int, default=settings.port)
    p.add_argument(
        "--insecure-open-staff",
        action="store_true",
        help="serve on a non-loopback host without MEDCITE_STAFF_PASSWORD: anyone who can reach"
        " it reads the patients' stored questions and can reload the index",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=settings.workers,
        metavar="N",
        help="worker processes serving one port (default: $MEDCITE_WORKERS or 1). Above 1,"
        " conversations are kept in the database (--database-url) so that any worker can"
        " continue them; each worker loads its own model and has its own rate limits",
    )
    p.add_argument(
        "--database-url",
        default=settings.database_url,
        metavar="URL",
        help="where feedback is kept, and conversations when they are shared (this or --workers"
        " above 1): sqlite:////path/file.sqlite or postgresql+psycopg://USER:PASSWORD@HOST/DB"
        " (default: $MEDCITE_DATABASE_URL, else feedback.sqlite in the index directory)",
    )
    p.set_defaults(run=cmd_serve)

    p = sub.add_parser("feedback", help="work with stored feedback")
    feedback = p.add_subparsers(required=True, metavar="ACTION")
    p = feedback.add_parser("export", help="write feedback as a question file for `medcite eval`")
    p.add_argument("out", type=Path, metavar="OUT.jsonl")
    index_option(p)
    p.add_argument(
        "--database-url",
        default=settings.database_url,
        metavar="URL",
        help="where `medcite serve --database-url` kept feedback (default: $MEDCITE_DATABASE_URL,"
        " else feedback.sqlite in the index directory)",
    )
    p.set_defaults(run=cmd_feedback_export)

    p = sub.add_parser("info", help="describe the index")
    index_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_info)
    return parser


def _store(args: argparse.Namespace, settings: Settings) -> StoreConfig:
    return store_config(
        settings.model_copy(
            update={
                "store": args.store,
                "milvus_uri": args.milvus_uri,
                "milvus_collection": args.milvus_collection,
            }
        )
    )


def _open(args: argparse.Namespace, settings: Settings) -> Index:
    """The index the arguments name, from the store they name."""
    from medcite.index.stores import open_store

    return open_store(args.index, _store(args, settings))


def _publish(args: argparse.Namespace, settings: Settings) -> None:
    """After an ingest: bring a Milvus store up to the directory's new generation."""
    from medcite.index.stores import publish

    config = _store(args, settings)
    published = publish(args.index, config)
    if published is not None and not getattr(args, "json", False):
        print(f"published generation {published} to {config.describe(args.index)}")


def _embedder(args: argparse.Namespace, *, batch: bool = False, index_model: str | None = None):
    """The embedder (by default the one that built the index: ``index_model``, or the
    directory's); one thread per query unless ``batch`` (ingest) wants every core."""
    from medcite.index.embedder import make_embedder
    from medcite.index.layout import current_model
    from medcite.index.threads import limit_threads

    threads = None if batch else 1
    if threads:
        limit_threads(threads)
    index_dir = getattr(args, "index", None)
    try:
        return make_embedder(
            args.embedder,
            index_model=index_model
            or (current_model(index_dir) if index_dir is not None else None),
            threads=threads,
        )
    except ValueError as exc:
        raise MedciteError(str(exc)) from exc


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from medcite.ingest.pipeline import ingest

    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None and total:
            bar = bars[stage] = tqdm(
                total=total,
                unit=stage[:-1],
                desc=f"embedding {stage}",
                file=sys.stderr,
                disable=None,
                mininterval=1.0,
            )
        if bar is not None:
            bar.update(done - bar.n)

    embedder = _embedder(args, batch=True)
    report = ingest(
        args.paths,
        args.index,
        embedder,
        max_words=args.max_words,
        prune=args.prune,
        vector_index=VectorIndexKind(args.vector_index),
        progress=progress,
        executor=_executor(args, embedder.name),
    )
    for bar in bars.values():
        bar.close()
    _print_ingest_report(report, args)
    _publish(args, settings)
    return 0


def _executor(args: argparse.Namespace, model: str):
    """The Ray executor when asked for (None: the ingest's own, in process)."""
    if args.executor != "ray":
        if args.ray_address:
            raise InputError("--ray-address needs --executor ray")
        return None
    from functools import partial

    from medcite.index.embedder import make_embedder
    from medcite.ingest.ray_executor import RayExecutor

    # Each actor loads the model the ingest embeds with, on one thread (one actor per CPU).
    factory = partial(make_embedder, args.embedder, index_model=model, threads=1)
    return RayExecutor(factory, address=args.ray_address)


def cmd_reencode(args: argparse.Namespace, settings: Settings) -> int:
    from medcite.index import layout
    from medcite.index.embedder import make_embedder
    from medcite.ingest.pipeline import ingest

    _, manifest = layout.open_generation(args.index)
    # Not the index's own encoder: "auto" here is the one a new index gets.
    embedder = make_embedder(args.embedder)
    if embedder.name == manifest.model:
        print(f"the index at {args.index} is already encoded with {manifest.model}")
        return 0
    report = ingest([], args.index, embedder, max_words=manifest.max_words, reencode=True)
    if not args.json:
        print(f"re-encoded with {embedder.name} (was {manifest.model})")
    _print_ingest_report(report, args)
    _publish(args, settings)
    return 0


def _print_ingest_report(report, args: argparse.Namespace) -> int:
    if args.json:
        data = asdict(report) | {"passages_per_second": report.passages_per_second}
        print(json.dumps(data, indent=2))
        return 0
    if report.recovered:
        print(f"recovered: {report.recovered}")
    print(
        f"generation {report.generation} at {report.index_dir}: {report.documents_total} documents,"
        f" {report.passages_total} passages\n"
        f"read {report.documents_read} documents: {report.added} added, {report.updated} updated,"
        f" {report.unchanged} unchanged, {report.removed} removed\n"
        f"embedded {report.passages_embedded} passages"
        + (f" at {report.passages_per_second:.1f} passages/s" if report.passages_embedded else "")
        + f" and {report.sentences_embedded} sentences (for quotes)"
        + (f" in {report.sentence_seconds:.1f} s" if report.sentences_embedded else "")
        + f"; took {report.seconds:.1f} s"
    )
    if report.rechunked and getattr(args, "max_words", None):
        print(f"re-chunked {report.rechunked} stored documents at --max-words {args.max_words}")
    if report.skipped:
        print(f"skipped {len(report.skipped)} file(s):")
        for item in report.skipped:
            print(f"  {item.path}: {item.reason}")
    return 0


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from medcite.chat.retrieve import Filters, search
    from medcite.web.schemas import HitOut

    index = _open(args, settings)
    embedder = _embedder(args, index_model=index.manifest.model)
    index.require_model(embedder.name)
    hits = search(
        index,
        embedder,
        args.query,
        k=args.k,
        mode=SearchMode(args.mode),
        filters=Filters(sources=tuple(args.source)),
    )
    if args.json:
        print(json.dumps([HitOut.of(h).model_dump() for h in hits], indent=2))
        return 0
    if not hits:
        print("no passages matched")
    for rank, hit in enumerate(hits, 1):
        p = hit.passage
        heading = f" — {p.heading}" if p.heading else ""
        print(
            f"{rank:>2}. {hit.title}{heading}  [{p.doc_id} {p.start}:{p.end}]"
            f"  score {hit.score:.3f}"
        )
        print(textwrap.indent(textwrap.shorten(p.text, 300, placeholder=" …"), "    "))
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from medcite.chat.answer import ask
    from medcite.chat.calibration import policy_for
    from medcite.chat.retrieve import Filters

    index = _open(args, settings)
    embedder = _embedder(args, index_model=index.manifest.model)
    index.require_model(embedder.name)
    triage = triage_for(settings)
    filters = Filters(sources=tuple(args.source))
    policy = policy_for(index)
    answer = ask(index, embedder, args.question, triage=triage, policy=policy, filters=filters)
    if args.json:
        print(json.dumps(asdict(answer), indent=2))
        return 0
    print(format_answer(answer))
    return 0


def format_answer(answer) -> str:
    """An answer as a terminal reader wants it: quotes, then numbered sources with links."""
    from medcite.chat.types import ANSWERED, EMERGENCY

    lines: list[str] = [f"> {answer.help_line}", ""] if answer.help_line else []
    if answer.kind == EMERGENCY:
        lines += [f"!! This sounds like {answer.emergency_name}.", "!! " + answer.message]
        if answer.quotes:
            lines += ["", "Not happening now? What the articles say:", ""]
            lines += _quoted_lines(answer)
    elif answer.kind != ANSWERED:
        lines += [answer.message]
        lines += [f"  - {topic.title}  [{topic.doc_id}]" for topic in answer.suggestions]
    else:
        lines += _quoted_lines(answer)
    lines += ["", answer.disclaimer]
    return "\n".join(lines)


def _quoted_lines(answer) -> list[str]:
    lines: list[str] = []
    for quote in answer.quotes:
        body = textwrap.fill(f"“{quote.text}” [{quote.citation}]", 88)
        lines += [textwrap.indent(body, "  "), ""]
    lines += ["Sources:"]
    for c in answer.citations:
        heading = f", {c.heading}" if c.heading else ""
        where = c.url or f"/doc/{c.doc_id}"
        lines += [f"  [{c.number}] {c.title}{heading} — {where} (chars {c.start}-{c.end})"]
    return lines


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:

    if not (args.questions or args.triage or args.help_lines):
        raise InputError("give --questions FILE, --triage FILE or --help-lines FILE")
    if not args.questions and (args.split or args.per_question):
        raise InputError("--split and --per-question need --questions FILE")
    if args.per_question and args.no_answers:
        raise InputError("--per-question writes the answers, so it cannot go with --no-answers")
    triage = triage_for(settings)
    embedder = _embedder(args)
    if args.triage:
        _eval_triage(args, triage, embedder)
    if args.help_lines:
        _eval_help_lines(args, triage, embedder)
    if args.questions:
        _eval_questions(args, settings, triage, embedder)
    return 0


def _eval_triage(args: argparse.Namespace, triage, embedder) -> None:
    from medcite.chat.evaluation.triage import (
        evaluate_triage,
        format_triage_report,
        load_triage_file,
        report_json,
    )

    cases = load_triage_file(args.triage)
    report = evaluate_triage(
        cases, lambda text: triage.check(text, embedder)[0], triage.describe(embedder)
    )
    print(format_triage_report(report))
    _write_json(args, report_json(report), ".triage.json", alone=not args.questions)


def _eval_help_lines(args: argparse.Namespace, triage, embedder) -> None:
    from medcite.chat.evaluation.help_lines import (
        evaluate_help_lines,
        format_help_line_report,
        help_line_report_json,
        load_help_file,
    )

    cases = load_help_file(args.help_lines)
    report = evaluate_help_lines(
        cases, lambda text: triage.read(text, embedder), triage.describe(embedder)
    )
    print(format_help_line_report(report))
    alone = not (args.questions or args.triage)
    _write_json(args, help_line_report_json(report), ".help-lines.json", alone=alone)


def _write_json(args: argparse.Namespace, data: dict, suffix: str, *, alone: bool) -> None:
    """``data`` to ``--json OUT``, or beside it with ``suffix`` when OUT holds another report."""
    if args.json:
        path = args.json if alone else args.json.with_suffix(suffix)
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _eval_questions(args: argparse.Namespace, settings: Settings, triage, embedder) -> None:
    from functools import partial

    from tqdm import tqdm

    from medcite.chat.answer import ask
    from medcite.chat.calibration import policy_for
    from medcite.chat.evaluation.questions import load_questions, select_split
    from medcite.chat.evaluation.report import (
        format_report,
        report_json,
        write_question_rows,
        write_trec,
    )
    from medcite.chat.evaluation.run import evaluate

    questions = load_questions(args.questions)
    if args.split:
        questions = select_split(questions, args.split)
    index = _open(args, settings)
    index.require_model(embedder.name)
    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(
                total=total, desc=stage, unit="q", file=sys.stderr, disable=None, leave=False
            )
        bar.update(done - bar.n)

    report = evaluate(
        index,
        embedder,
        questions,
        modes=tuple(m.strip() for m in args.mode.split(",") if m.strip()),
        depth=args.depth,
        answers=not args.no_answers,
        warmup=args.warmup,
        questions_file=args.questions.name,
        split=args.split or "",
        answer=partial(ask, triage=triage, policy=policy_for(index)),
        progress=progress,
    )
    for bar in bars.values():
        bar.close()
    print(format_report(report), end="")
    if args.json:
        args.json.write_text(json.dumps(report_json(report), indent=2) + "\n", encoding="utf-8")
    if args.trec_run:
        for mode, level, run, qrels in write_trec(report, args.trec_run).pairs:
            print(f"trec: {mode} {level}: {qrels} {run}")
    if args.per_question:
        count = write_question_rows(report, args.per_question)
        print(f"per question: {count} rows in {args.per_question}")


def cmd_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    from medcite.chat.calibration import calibrate, require_both_kinds, save_for_index
    from medcite.chat.evaluation.questions import load_questions, select_split
    from medcite.index.layout import now_iso

    if not 0.0 < args.answer_rate <= 1.0:
        raise InputError(f"--answer-rate must be above 0 and at most 1, not {args.answer_rate}")
    questions = load_questions(args.questions)
    name = args.questions.name
    if args.split:
        questions = select_split(questions, args.split)
        name += f" (split {args.split})"
    require_both_kinds(questions, name)
    index = _open(args, settings)
    embedder = _embedder(args, index_model=index.manifest.model)
    index.require_model(embedder.name)
    source = (
        f"medcite calibrate on {name}, answering {args.answer_rate:g} of the answerable"
        f" questions, over generation {index.generation} ({now_iso()})"
    )
    result = calibrate(
        index, embedder, questions, answer_rate=args.answer_rate, source=source, name=name
    )
    path = save_for_index(args.index, index, result)
    aside = (
        f" ({result.skipped} set aside: they ask which topic is meant)" if result.skipped else ""
    )
    print(
        f"fitted on {result.answerable} answerable and {result.unanswerable} unanswerable"
        f" questions{aside}"
    )
    print(
        f"answers {result.answered:.3f} of the answerable, abstains on {result.abstained:.3f}"
        " of the unanswerable"
    )
    print(f"wrote {path}")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from medcite.web.app import serve

    if args.workers < 1:
        raise InputError(f"--workers must be at least 1, not {args.workers}")
    if args.workers > 1 and _store(args, settings).is_lite(args.index):
        raise InputError(
            "a Milvus Lite file can be open in one process only: serve it with --workers 1, "
            "or give --workers a Milvus server (--milvus-uri http://host:19530)"
        )
    serve(
        settings.model_copy(
            update={
                "index": args.index,
                "host": args.host,
                "port": args.port,
                "embedder": args.embedder,
                "workers": args.workers,
                "database_url": args.database_url,
                "store": args.store,
                "milvus_uri": args.milvus_uri,
                "milvus_collection": args.milvus_collection,
            }
        ),
        open_staff=args.insecure_open_staff,
    )
    return 0


def cmd_feedback_export(args: argparse.Namespace, settings: Settings) -> int:
    from medcite.chat.feedback import export_feedback

    count = export_feedback(args.index, args.out, args.database_url)
    print(f"wrote {count} question(s) to {args.out}")
    return 0


def cmd_info(args: argparse.Namespace, settings: Settings) -> int:
    from medcite.chat.answer import DEFAULT_HEAD, WEIGHTS
    from medcite.chat.calibration import policy_file, policy_for
    from medcite.chat.question_kind import DEFAULT_HEAD_FILE
    from medcite.index import layout
    from medcite.index.errors import IndexCorruptError

    # A corrupt current generation is still described: which generations are intact is what
    # its owner wants to know. The error is raised after that, for the exit code.
    try:
        index, error = _open(args, settings), None
    except IndexCorruptError as exc:
        index, error = None, exc
    checks = layout.check_generations(args.index)
    policy: dict[str, object] = {}
    if index is not None:
        own = policy_file(index)
        try:
            in_force = policy_for(index)
            policy = {
                "file": str(own) if own else None,
                "source": in_force.source,
                "weights": {k: v for k, v in in_force.to_json().items() if k in WEIGHTS},
            }
        except IndexCorruptError as exc:
            policy = {"file": str(own), "error": str(exc)}
        # The policy's "kind" feature: the shipped head's score of the question's meaning,
        # 0 for an index whose model the head cannot read.
        policy["question_head"] = {
            "file": str(DEFAULT_HEAD_FILE),
            "source": DEFAULT_HEAD.source,
            "reads": DEFAULT_HEAD.embedder,
            "reads_this_index": DEFAULT_HEAD.reads_vectors_of(index.manifest.model),
        }
    if args.json:
        generations = [
            {
                "name": c.name,
                "current": c.current,
                "intact": c.intact,
                "problem": c.problem,
                "manifest": c.manifest.to_json() if c.manifest else None,
            }
            for c in checks
        ]
        if index is None:
            print(json.dumps({"generations": generations, "error": str(error)}, indent=2))
        else:
            data = index.manifest.to_json() | {
                "directory": str(index.directory),
                "store": _store(args, settings).describe(args.index),
                "sources": dict(index.sources()),
                "sentence_vectors": index.stores_sentences,
                "abstain_policy": policy,
                "generations": generations,
            }
            print(json.dumps(data, indent=2))
    elif index is None:
        print(f"index {args.index} (its current generation is not intact)")
    else:
        print(f"index {index.root} (generation {index.generation}, built {index.manifest.created})")
        if args.store != "embedded":
            print(
                f"served from {_store(args, settings).describe(args.index)}, HNSW vectors and "
                "BM25 in Milvus; the generations below are the index directory's"
            )
        print(
            f"model {index.manifest.model} ({index.manifest.dim} dims),"
            f" {index.manifest.vector_index} vectors"
        )
        print(f"{index.manifest.documents} documents, {index.manifest.passages} passages")
        print(
            "sentence vectors: stored (quotes cost no model run)"
            if index.stores_sentences
            else "sentence vectors: none (quotes embed a few sentences per question; re-ingest"
            " to store them)"
        )
        for source, count in index.sources():
            print(f"  {source or '(none)'}: {count}")
        where = policy["file"] or "the shipped default"
        print(f"abstention policy: {where}")
        print(f"  {policy.get('source') or policy.get('error')}")
        weights = policy.get("weights")
        if isinstance(weights, dict):
            print("  " + ", ".join(f"{name} {value:.3g}" for name, value in weights.items()))
        head = policy["question_head"]
        assert isinstance(head, dict)
        reads = "" if head["reads_this_index"] else f" (it reads {head['reads']} only: kind is 0)"
        print(f"  kind: the question head in {head['file']}{reads}")
    if not args.json:
        print("generations:")
        for c in checks:
            state = f"not intact: {c.problem}"
            if c.intact and c.manifest is not None:
                m = c.manifest
                state = f"intact ({m.documents} documents, {m.passages} passages, {m.created})"
            print(f"  {c.name}  {'current' if c.current else '':7}  {state}")
    if error is not None:
        raise error
    return 0


if __name__ == "__main__":
    sys.exit(main())
