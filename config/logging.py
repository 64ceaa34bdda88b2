"""Structured logs (structlog): JSON lines in production, readable lines on a console.

Every record, from structlog loggers and from the standard library's (Django, Celery, ours),
goes through one ProcessorFormatter, so all of them carry the context bound with
`structlog.contextvars` — the task id while a worker runs a task (see tasks_app.runner).
"""

from __future__ import annotations

import structlog

SHARED_PROCESSORS = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def logging_config(*, json: bool, level: str = "INFO") -> dict:
    """A dictConfig for Django's LOGGING; also configures structlog's own loggers."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *SHARED_PROCESSORS,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # Console tracebacks are the standard library's: structlog would otherwise use rich when
    # it is installed (schemathesis brings it), which prints every frame's local variables —
    # a broker URL's password among them — and took seconds of CPU per traceback (a relay
    # round that failed while the broker was down spent 6-10 s logging it).
    renderer = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    final = [structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer]
    if json:
        final.insert(1, structlog.processors.format_exc_info)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": final,
                "foreign_pre_chain": [*SHARED_PROCESSORS, structlog.stdlib.ExtraAdder()],
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
    }
