"""The registry of task types: the only work a caller can ask for.

A task type is a plain function `body(ctx, **params)` (or `async def`) registered with
`@task_type(...)`, which declares how its input is validated, where it runs, how it retries
and how long it may take. The API submits task types by name; it never names a Celery task.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

from rest_framework import serializers

from .models import Priority, Queue


class TransientError(Exception):
    """Raise from a task body for a failure worth retrying (network blip, busy service)."""


class PermanentError(Exception):
    """Raise from a task body for a failure no retry can fix (bad input, missing row)."""


class UnknownTaskType(LookupError):
    def __init__(self, name: str):
        self.name = name
        super().__init__(f"Unknown task type {name!r}. Known types: {', '.join(known_names())}.")


class EmptyParams(serializers.Serializer):
    """The input of task types that take no parameters."""


@dataclass(frozen=True)
class TaskType:
    name: str
    body: Callable
    params: type[serializers.Serializer]
    description: str = ""
    priority: int = Priority.NORMAL
    queue: str | None = None
    max_retries: int = 3
    retry_on: tuple[type[BaseException], ...] = (TransientError,)
    backoff_base: float | None = None
    time_limit: int | None = None
    soft_time_limit: int | None = None
    public: bool = True
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.body)

    def queue_for(self, priority: int) -> str:
        """The queue a run of this type goes to: its fixed queue, else by priority."""
        return self.queue or Queue.for_priority(priority)

    def validate(self, params: dict) -> dict:
        """Return validated params, raising serializers.ValidationError naming the field."""
        if self.params is EmptyParams and isinstance(params, dict):
            # What EmptyParams makes of any mapping, without building a serializer per task.
            return {}
        serializer = self.params(data=params)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def to_json_params(self, params: dict) -> dict:
        """Validated params in the JSON form stored on the row (dates as strings, etc.)."""
        if self.params is EmptyParams and isinstance(params, dict):
            return {}
        serializer = self.params(data=params)
        serializer.is_valid(raise_exception=True)
        return {
            name: value
            for name, value in serializer.data.items()
            if name in serializer.validated_data or value is not None
        }


_registry: dict[str, TaskType] = {}


def task_type(
    name: str,
    *,
    params: type[serializers.Serializer] = EmptyParams,
    description: str = "",
    priority: int = Priority.NORMAL,
    queue: str | None = None,
    max_retries: int = 3,
    retry_on: tuple[type[BaseException], ...] = (TransientError,),
    backoff_base: float | None = None,
    time_limit: int | None = None,
    soft_time_limit: int | None = None,
    public: bool = True,
) -> Callable[[Callable], Callable]:
    """Register the decorated function as the body of task type `name`."""

    def register(body: Callable) -> Callable:
        if name in _registry and _registry[name].body is not body:
            raise ValueError(f"task type {name!r} is registered twice")
        if soft_time_limit and time_limit and soft_time_limit >= time_limit:
            raise ValueError(f"task type {name!r}: soft_time_limit must be below time_limit")
        _registry[name] = TaskType(
            name=name,
            body=body,
            params=params,
            description=description or (inspect.getdoc(body) or "").split("\n")[0],
            priority=priority,
            queue=queue,
            max_retries=max_retries,
            retry_on=retry_on,
            backoff_base=backoff_base,
            time_limit=time_limit,
            soft_time_limit=soft_time_limit,
            public=public,
        )
        return body

    return register


def get(name: str) -> TaskType:
    try:
        return _registry[name]
    except KeyError:
        raise UnknownTaskType(name) from None


def known_names(*, public_only: bool = True) -> list[str]:
    return sorted(n for n, t in _registry.items() if t.public or not public_only)


def all_types() -> list[TaskType]:
    return [_registry[n] for n in sorted(_registry)]
