"""Task types the tests need: bodies that fail, hang, crash or count their real executions.

Executions are counted in Redis (INCR), outside any database transaction, so a count is what
really ran, whichever process ran it.
"""

import os
import signal
import time

import redis
from celery import shared_task
from django.conf import settings
from rest_framework import serializers

from tasks_app.context import TaskContext
from tasks_app.registry import PermanentError, TransientError, task_type

COUNTER_KEY = "casework-test:executions:{key}"


def counter() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def executions(key: str) -> int:
    return int(counter().get(COUNTER_KEY.format(key=key)) or 0)


def _count(key: str) -> int:
    return int(counter().incr(COUNTER_KEY.format(key=key)))


class CountedParams(serializers.Serializer):
    key = serializers.CharField()
    fail_times = serializers.IntegerField(default=0)
    permanent = serializers.BooleanField(default=False)
    seconds = serializers.FloatField(default=0)


@task_type("test.counted", params=CountedParams, max_retries=2)
def counted(ctx: TaskContext, *, key: str, fail_times: int, permanent: bool, seconds: float):
    """Count the execution; fail transiently for the first `fail_times` executions."""
    n = _count(key)
    if seconds:
        ctx.wait(seconds)
    if permanent:
        raise PermanentError(f"permanent failure on execution {n}")
    if n <= fail_times:
        raise TransientError(f"transient failure on execution {n}")
    return {"executions": n}


class SpinParams(serializers.Serializer):
    key = serializers.CharField()
    seconds = serializers.FloatField(default=30)
    cooperative = serializers.BooleanField(default=True)


@task_type("test.spin", params=SpinParams, max_retries=0)
def spin(ctx: TaskContext, *, key: str, seconds: float, cooperative: bool):
    """Work for `seconds`; report progress unless told to ignore cancellation."""
    _count(key)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cooperative:
            ctx.progress(None, "spinning")
            ctx.wait(0.05)
        else:
            time.sleep(0.05)
    return {"spun": seconds}


class CrashParams(serializers.Serializer):
    key = serializers.CharField()


@task_type("test.crash", params=CrashParams, max_retries=1)
def crash(ctx: TaskContext, *, key: str):
    """Kill the process running it, every time (a poison task)."""
    _count(key)
    os.kill(os.getpid(), signal.SIGKILL)


class AsyncParams(serializers.Serializer):
    value = serializers.IntegerField()


@task_type("test.async_double", params=AsyncParams)
async def async_double(ctx: TaskContext, *, value: int):
    """An async body: awaits, reports progress, returns the loop it ran on."""
    import asyncio

    await asyncio.sleep(0)
    await ctx.aprogress(50, "half")
    return {"double": value * 2, "loop": id(asyncio.get_running_loop())}


class SlowParams(serializers.Serializer):
    seconds = serializers.FloatField(default=10)


@task_type("test.slow", params=SlowParams, soft_time_limit=1, time_limit=5, max_retries=0)
def slow(ctx: TaskContext, *, seconds: float):
    """Run past its 1 s soft time limit without reporting progress."""
    time.sleep(seconds)
    return {"slept": seconds}


@task_type("test.backend_pid", max_retries=0)
def backend_pid(ctx: TaskContext):
    """The PostgreSQL backend serving this worker process's connection, and how many objects
    the process has frozen out of the garbage collector's reach (config.gc_freeze)."""
    import gc

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return {
            "pid": cursor.fetchone()[0],
            "worker_pid": os.getpid(),
            "frozen": gc.get_freeze_count(),
        }


# --- fault drills ---------------------------------------------------------------------------

EXECUTIONS_TABLE = "drill_executions"


def record_execution(task_id, key: str, phase: str) -> None:
    """Append to the side-effect table, outside any transaction: what really ran."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {EXECUTIONS_TABLE} (task_id, key, phase, pid) VALUES (%s, %s, %s, %s)",
            [str(task_id), key, phase, os.getpid()],
        )


class DrillParams(serializers.Serializer):
    key = serializers.CharField()
    seconds = serializers.FloatField(default=1.0)


@task_type("test.drill", params=DrillParams, max_retries=3)
def drill(ctx: TaskContext, *, key: str, seconds: float):
    """Record a start, work for `seconds` reporting progress, record a completion."""
    record_execution(ctx.task_id, key, "start")
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ctx.progress(100 * (1 - left / seconds), "working")
        ctx.wait(min(0.05, left))
    record_execution(ctx.task_id, key, "done")
    return {"pid": os.getpid()}


class HttpParams(serializers.Serializer):
    url = serializers.URLField()


@task_type("test.http_dependency", params=HttpParams, max_retries=3, backoff_base=0.2)
def http_dependency(ctx: TaskContext, *, url: str):
    """Call a (local) HTTP dependency: 5xx is transient, 4xx permanent."""
    import requests

    response = requests.get(url, timeout=5)
    if response.status_code >= 500:
        raise TransientError(f"dependency answered {response.status_code}")
    if response.status_code >= 400:
        raise PermanentError(f"dependency refused the request: {response.status_code}")
    return {"status": response.status_code, "body": response.text}


@shared_task(name="tests.beat_tick", ignore_result=True)
def beat_tick(key: str) -> None:
    """A schedule's target: one row in the side-effect table per run."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {EXECUTIONS_TABLE} (task_id, key, phase, pid) "
            "VALUES (gen_random_uuid(), %s, 'done', %s)",
            [key, os.getpid()],
        )
