"""The litigation task types: case, evidence and risk analysis, contract review, generation
and drafting, each a registered type whose steps show on the task row.

Bodies are thin: they load the owner's documents (waiting for any still being ingested), run
one engine with its ``on_step`` callbacks driving the task's steps, write the report files and
return the engine's result with links to them. Bad input raises ``PermanentError`` with a
message naming what is wrong; nothing here is worth retrying.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from datetime import date

from django.conf import settings
from django.utils import timezone

from tasks_app.context import TaskContext
from tasks_app.models import Priority, Queue, Task
from tasks_app.registry import PermanentError, task_type

from . import refinement, selectors, services
from .engines import assessment, generation
from .engines.contract_review import review_contract
from .engines.generation import GenerationError, MissingVariables
from .models import ArtifactFormat, ArtifactKind
from .serializers import (
    CaseAnalysisParams,
    ContractGenerationParams,
    ContractReviewParams,
    DocumentDraftingParams,
    EvidenceAnalysisParams,
    RiskAssessmentParams,
)

# Steps of each type as (task step, weight); the engine's step names map onto them below.
CASE_ANALYSIS_STEPS = [
    ("load documents", 2),
    ("extract facts", 2),
    ("timeline", 1),
    ("evidence map", 2),
    ("gaps", 1),
    ("limitation check", 1),
    ("strength assessment", 1),
    ("report", 2),
]
_CASE_ANALYSIS_ENGINE = {
    "extract_facts": ("extract facts",),
    "timeline": ("timeline",),
    "classify_evidence": ("evidence map",),
    "evidence_map": ("evidence map",),
    # The engine finds the gaps with the evidence map; the step closes as the next begins.
    "limitation": ("gaps", "limitation check"),
    "strength": ("strength assessment",),
    "risks": ("strength assessment",),
    "report": ("report",),
}
RISK_ASSESSMENT_STEPS = [
    ("load documents", 2),
    ("extract facts", 2),
    ("timeline", 1),
    ("evidence map", 2),
    ("limitation check", 1),
    ("risks", 1),
    ("report", 2),
]
_RISK_ASSESSMENT_ENGINE = {
    "extract_facts": ("extract facts",),
    "timeline": ("timeline",),
    "classify_evidence": ("evidence map",),
    "evidence_map": ("evidence map",),
    "limitation": ("limitation check",),
    "risks": ("risks",),
}
EVIDENCE_ANALYSIS_STEPS = [
    ("load documents", 2),
    ("extract facts", 2),
    ("classify evidence", 2),
    ("evidence map", 2),
    ("report", 2),
]
_EVIDENCE_ANALYSIS_ENGINE = {
    "extract_facts": ("extract facts",),
    "classify_evidence": ("classify evidence",),
    "evidence_map": ("evidence map",),
}
CONTRACT_REVIEW_STEPS = [("load document", 1), ("review clauses", 4), ("report", 2)]
CONTRACT_GENERATION_STEPS = [("fill template", 3), ("write files", 1)]
DOCUMENT_DRAFTING_STEPS = [("load analysis", 1), ("draft", 3), ("write files", 1)]


class EngineSteps:
    """Drive a task's named steps from an engine's ``on_step(name, fraction)`` callbacks.

    Each engine step enters the task steps it maps to, closing the one before; an engine
    step that maps to a task step already open reports progress inside it. Leaving the
    ``with`` block closes the open step, as failed if an exception is on its way out.
    """

    def __init__(self, ctx: TaskContext, mapping: dict[str, tuple[str, ...]]):
        self.ctx = ctx
        self.mapping = mapping
        self.current: str | None = None
        self._stack: ExitStack | None = None
        self._seen: dict[str, int] = {}

    def __enter__(self) -> EngineSteps:
        return self

    def __exit__(self, *exc_info) -> bool:
        return self._close(exc_info)

    def __call__(self, engine_step: str, fraction: float) -> None:
        self.ctx.check_cancelled()
        for name in self.mapping.get(engine_step, ()):
            self.enter(name)
        if self.current is None or engine_step not in self.mapping:
            return
        shared = [key for key, names in self.mapping.items() if self.current in names]
        seen = self._seen.setdefault(self.current, 0)
        self._seen[self.current] = seen + 1
        self.ctx.progress(100 * seen / len(shared), engine_step.replace("_", " "))

    def enter(self, name: str) -> None:
        """Open task step ``name`` unless it is the one open, closing the one before."""
        if name == self.current:
            return
        self._close((None, None, None))
        self._stack = ExitStack()
        self._stack.enter_context(self.ctx.step(name))
        self.current = name

    def _close(self, exc_info) -> bool:
        stack, self._stack, self.current = self._stack, None, None
        return bool(stack is not None and stack.__exit__(*exc_info))


@task_type(
    "litigation.case_analysis",
    params=CaseAnalysisParams,
    priority=Priority.NORMAL,
    queue=Queue.MEDIUM,
    soft_time_limit=1800,
    time_limit=1860,
)
def case_analysis(
    ctx: TaskContext,
    *,
    package_id: str,
    case_position: str,
    document_ids: list,
    case_type: str = "",
    user_input: str = "",
    today: date | None = None,
) -> dict:
    """Analyse a case: facts, timeline, evidence map, gaps, limitation, strength, report."""
    package, documents = _start_analysis(ctx, CASE_ANALYSIS_STEPS, package_id, document_ids)
    with EngineSteps(ctx, _CASE_ANALYSIS_ENGINE) as steps:
        result = assessment.analyze_case(
            documents,
            package,
            position=case_position,
            user_input=user_input,
            today=today or task_date(ctx),
            on_step=steps,
        )
        steps.enter("report")
        ctx.progress(50, "writing Markdown, HTML and DOCX")
        link_chunks(result)
        result["artifacts"] = services.report_write(task_id=ctx.task_id, result=result)
    result["case_type"] = case_type or package["case_type"]
    return result


@task_type(
    "litigation.evidence_analysis",
    params=EvidenceAnalysisParams,
    priority=Priority.NORMAL,
    queue=Queue.MEDIUM,
    soft_time_limit=1800,
    time_limit=1860,
)
def evidence_analysis(ctx: TaskContext, *, package_id: str, document_ids: list) -> dict:
    """Classify each piece of evidence, what it proves, and completeness against the package."""
    package, documents = _start_analysis(ctx, EVIDENCE_ANALYSIS_STEPS, package_id, document_ids)
    with EngineSteps(ctx, _EVIDENCE_ANALYSIS_ENGINE) as steps:
        result = assessment.evidence_analysis(documents, package, on_step=steps)
        link_chunks(result)
    return _with_report(ctx, result)


@task_type(
    "litigation.risk_assessment",
    params=RiskAssessmentParams,
    priority=Priority.NORMAL,
    queue=Queue.MEDIUM,
    soft_time_limit=1800,
    time_limit=1860,
)
def risk_assessment(
    ctx: TaskContext,
    *,
    package_id: str,
    case_position: str,
    document_ids: list,
    user_input: str = "",
    today: date | None = None,
) -> dict:
    """List the risks of the case for the chosen position, each with severity and citation."""
    package, documents = _start_analysis(ctx, RISK_ASSESSMENT_STEPS, package_id, document_ids)
    with EngineSteps(ctx, _RISK_ASSESSMENT_ENGINE) as steps:
        result = assessment.assess_risks(
            documents,
            package,
            position=case_position,
            user_input=user_input,
            today=today or task_date(ctx),
            on_step=steps,
        )
    return _with_report(ctx, result)


@task_type(
    "litigation.contract_review",
    params=ContractReviewParams,
    priority=Priority.LOW,
    queue=Queue.LOW,
    soft_time_limit=900,
    time_limit=960,
)
def contract_review(
    ctx: TaskContext,
    *,
    document_id=None,
    text: str = "",
    title: str = "",
    contract_amount=None,
) -> dict:
    """Find the risky clauses of a contract, each with its text, severity and a revision."""
    refine = refinement.refinement_enabled()
    steps = CONTRACT_REVIEW_STEPS
    if refine:
        steps = [*steps[:2], ("refine wording", 2), *steps[2:]]
    ctx.plan(steps)
    with ctx.step("load document"):
        if document_id is not None:
            document = load_documents(ctx, [document_id])[0]
        else:
            document = {"id": "text", "title": title or "合同 / Contract", "text": text}

    def on_rule(rule: str, fraction: float) -> None:
        ctx.check_cancelled()
        ctx.progress(100 * fraction, rule.replace("_", " "))

    with ctx.step("review clauses"):
        result = review_contract(document, contract_amount=contract_amount, on_step=on_rule)
    if refine:
        with ctx.step("refine wording"):
            result["refinement"] = refinement.refine_suggestions(
                result["findings"], language=result["language"]
            )
    else:
        result["refinement"] = {"status": "off"}
    return _with_report(ctx, result)


@task_type(
    "litigation.contract_generation",
    params=ContractGenerationParams,
    priority=Priority.HIGH,
    queue=Queue.HIGH,
    soft_time_limit=300,
    time_limit=360,
)
def contract_generation(ctx: TaskContext, *, template: str, variables: dict) -> dict:
    """Fill a contract template with the variables and write it as DOCX and Markdown."""
    ctx.plan(CONTRACT_GENERATION_STEPS)
    with ctx.step("fill template"):
        try:
            docx, markdown = generation.generate_contract(template, variables)
        except MissingVariables as exc:
            raise PermanentError(f"variables: missing {', '.join(exc.missing)}") from exc
        except GenerationError as exc:
            raise PermanentError(f"variables: {exc}") from exc
    with ctx.step("write files"):
        links = services.documents_write(
            task_id=ctx.task_id,
            kind=ArtifactKind.CONTRACT,
            outputs={ArtifactFormat.MARKDOWN: markdown, ArtifactFormat.DOCX: docx},
        )
    return {
        "kind": "contract_generation",
        "template": template,
        "title": generation.load_template(template)["title"],
        "markdown": markdown,
        "artifacts": links,
    }


@task_type(
    "litigation.document_drafting",
    params=DocumentDraftingParams,
    priority=Priority.HIGH,
    queue=Queue.HIGH,
    soft_time_limit=300,
    time_limit=360,
)
def document_drafting(
    ctx: TaskContext, *, analysis_task_id, variables: dict, document_type: str = "civil_complaint"
) -> dict:
    """Draft a civil complaint (民事起诉状) from a finished case analysis, as DOCX and Markdown."""
    ctx.plan(DOCUMENT_DRAFTING_STEPS)
    with ctx.step("load analysis"):
        analysis = selectors.finished_case_analysis(owner_id=ctx.owner_id, task_id=analysis_task_id)
        if analysis is None:
            raise PermanentError(
                f"analysis_task_id: {analysis_task_id} is not a finished case analysis of yours"
            )
    with ctx.step("draft"):
        try:
            docx, markdown = generation.draft_complaint(analysis.result, variables)
        except MissingVariables as exc:
            raise PermanentError(f"variables: missing {', '.join(exc.missing)}") from exc
        except GenerationError as exc:
            raise PermanentError(f"variables: {exc}") from exc
    with ctx.step("write files"):
        links = services.documents_write(
            task_id=ctx.task_id,
            kind=ArtifactKind.COMPLAINT,
            outputs={ArtifactFormat.MARKDOWN: markdown, ArtifactFormat.DOCX: docx},
        )
    return {
        "kind": "document_drafting",
        "document_type": document_type,
        "analysis_task_id": str(analysis_task_id),
        "markdown": markdown,
        "artifacts": links,
    }


def load_documents(ctx: TaskContext, ids: list) -> list[dict]:
    """Return the owner's documents ``ids`` as engine inputs, in the order asked for.

    Waits, checking for cancellation between polls, while any is still being ingested, up to
    ``LITIGATION_DOCUMENT_WAIT_SECONDS``; fails naming any document that is missing, not the
    owner's, or failed to ingest.
    """
    from documents.models import DocumentStatus

    if not ids:
        return []
    timeout = settings.LITIGATION_DOCUMENT_WAIT_SECONDS
    interval = settings.LITIGATION_DOCUMENT_POLL_SECONDS
    deadline = time.monotonic() + timeout
    while True:
        found = selectors.owned_documents(owner_id=ctx.owner_id, ids=ids)
        missing = [str(pk) for pk in ids if pk not in found]
        if missing:
            raise PermanentError(f"document_ids: no such document: {', '.join(missing)}")
        failed = [doc for doc in found.values() if doc.status == DocumentStatus.FAILED]
        if failed:
            names = "; ".join(_failure(doc) for doc in failed)
            raise PermanentError(f"document_ids: ingestion failed for {names}")
        waiting = [doc for doc in found.values() if doc.status != DocumentStatus.READY]
        if not waiting:
            break
        if time.monotonic() >= deadline:
            names = ", ".join(f"{doc.pk} ({doc.title})" for doc in waiting)
            raise PermanentError(f"document_ids: still being ingested after {timeout:g} s: {names}")
        ctx.progress(
            100 * (len(ids) - len(waiting)) / len(ids),
            f"waiting for {len(waiting)} of {len(ids)} documents to be ingested",
        )
        ctx.wait(interval)
    ctx.progress(100, f"{len(ids)} documents loaded")
    return [
        {"id": str(pk), "title": found[pk].title or found[pk].display_name, "text": found[pk].text}
        for pk in ids
    ]


def task_date(ctx: TaskContext) -> date:
    """The local date the task was submitted on: a retry measures from the same day."""
    created = Task.objects.filter(pk=ctx.task_id).values_list("created_at", flat=True).first()
    return timezone.localdate(created or timezone.now())


def link_chunks(result: dict) -> None:
    """Name, on each piece of evidence in the evidence map, the chunks its citations fall in.

    The engines cite spans of a document's whole text; search and the document pages show
    chunks, so each support gets the ``chunks`` (indexes, in order) holding its quotes.
    """
    supports = [support for item in result["evidence_map"] for support in item["supports"]]
    ids = {int(support["document_id"]) for support in supports}
    spans = selectors.chunk_spans(document_ids=ids)
    for support in supports:
        starts = [citation["start"] for citation in support["citations"]]
        support["chunks"] = sorted(
            {
                index
                for index, start, end in spans.get(int(support["document_id"]), [])
                for position in starts
                if start <= position < end
            }
        )


def _failure(document) -> str:
    reason = f": {document.error}" if document.error else ""
    return f"{document.pk} ({document.title or document.display_name}){reason}"


def _package(key: str) -> dict:
    definition = selectors.package_definition(key=key)
    if definition is None:
        raise PermanentError(f"package_id: no active analysis package {key!r}")
    return definition


def _start_analysis(ctx: TaskContext, steps, package_id: str, document_ids: list):
    """Plan the steps, resolve the package and load the documents (the first step)."""
    ctx.plan(steps)
    package = _package(package_id)
    with ctx.step("load documents"):
        documents = load_documents(ctx, document_ids)
    return package, documents


def _with_report(ctx: TaskContext, result: dict) -> dict:
    with ctx.step("report"):
        ctx.progress(0, "writing Markdown, HTML and DOCX")
        result["artifacts"] = services.report_write(task_id=ctx.task_id, result=result)
    return result
