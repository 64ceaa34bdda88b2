"""Scale: the list, count, stats and admin changelist on 1,000,000 task rows; retention cleanup.

The rows are loaded once into the `casework_bench` database by INSERT … SELECT generate_series
in chunks of 100,000 (7 days of history, 50 owners, 90% succeeded) and kept between runs;
`casework_bench_empty` has the same schema and no task rows. A Daphne server on each (under
`nice -n 10`), one client (bench/load.py), staff user `bench-admin` (sees every row), rounds
interleaved 1M / empty / DRF default paginator. Reported: p50/p99, the ratio to the same call on
the empty table (throughput, goal ≥ 0.9) and to DRF's LimitOffsetPagination with its COUNT(*)
(goal ≥ 10×).

Retention: N extra finished rows (4 events each) dated 400 days back are loaded and removed by
tasks_app.maintenance.prune_expired (chunked by id) while a worker drains no-op tasks on the
same database; rows/s of the prune (goal ≥ 50,000).

On PostgreSQL the task counts GET /tasks/count reads are kept by triggers and folded by the sweep
every 15 s (tasks_app.counts); no beat runs here, so the counts are folded once after loading,
as the first sweep would.

    .venv/bin/python -m bench.scale [--seconds 5] [--repeats 3] [--prune-rows 100000]
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import psycopg

from bench.common import (
    EMPTY_DB,
    PG,
    REDIS_BENCH_URL,
    REPO,
    SCALE_DB,
    bench_env,
    flush_broker,
    free_port,
    host_note,
    md_table,
    median,
    niced,
    prepare_database,
    ratio,
    start,
    start_worker,
    stop,
    use_database,
    wait_for_port,
    write_results,
)
from bench.load import build_request, load

ROWS = 1_000_000
CHUNK = 100_000
OWNERS = 50
PASSWORD = "bench-admin-password"  # a local benchmark database only
TYPES = ["example", "add", "long_running", "documents.process", "litigation.contract_review"]

ENDPOINTS = {
    "list": "/api/v1/tasks/",
    "list_filtered": "/api/v1/tasks/?status=failed&task_type=add",
    "count": "/api/v1/tasks/count",
    "stats": "/api/v1/tasks/stats",
    "admin_changelist": "/admin/tasks_app/task/",
}
DEFAULT_PAGINATOR = {
    "list": "/bench/default-paginator/tasks/",
    "list_filtered": "/bench/default-paginator/tasks/?status=failed&task_type=add",
}

_INSERT = """
INSERT INTO tasks_app_task (
    id, owner_id, name, task_type, params, priority, queue, status, task_system, progress,
    progress_message, steps, result, error_message, error_kind, traceback, attempts,
    max_retries, worker, created_at, queued_at, started_at, finished_at, heartbeat_at,
    callback_url, legal_hold, notify_email)
SELECT gen_random_uuid(), owners[1 + o], 'task ' || g, (%(types)s::text[])[1 + t], '{}'::jsonb,
    1 + p, (ARRAY['low_priority', 'medium_priority', 'high_priority'])[1 + p], s, 'celery',
    CASE WHEN s = 'succeeded' THEN 100 ELSE 0 END, '', '[]'::jsonb,
    CASE WHEN s = 'succeeded' THEN '{"ok": true}'::jsonb END,
    CASE WHEN s = 'failed' THEN 'ValueError: bad input' ELSE '' END,
    CASE WHEN s = 'failed' THEN 'exception' ELSE '' END, '', 1, 3, 'bench@host', c,
    c, c + interval '1 second', CASE WHEN s IN ('succeeded', 'failed', 'revoked')
    THEN c + (1 + random() * 120) * interval '1 second' END, c, '', false, false
FROM (
    SELECT g, now() - (%(age)s * random()) * interval '1 second' AS c,
        floor(random() * %(owners)s)::int AS o, floor(random() * 5)::int AS t,
        floor(random() * 3)::int AS p, random() AS r,
        (SELECT array_agg(id ORDER BY id) FROM auth_user WHERE username LIKE 'bench-owner-%%'
            OR username = 'bench-admin') AS owners
    FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS g
) AS picked,
LATERAL (
    SELECT CASE WHEN r < 0.90 THEN 'succeeded' WHEN r < 0.95 THEN 'failed'
        WHEN r < 0.97 THEN 'revoked' WHEN r < 0.98 THEN 'running' ELSE 'queued' END AS s
) AS status
"""


def prepare_users() -> str:
    """In the current database: the staff user and 49 owners; print a token for the staff user."""
    from django.contrib.auth import get_user_model
    from knox.models import AuthToken

    User = get_user_model()
    admin, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    admin.set_password(PASSWORD)
    admin.save()
    for i in range(1, OWNERS):
        User.objects.get_or_create(username=f"bench-owner-{i}")
    return AuthToken.objects.create(admin)[1]


def in_django(database: str, flag: str) -> str:
    """Run this module with `flag` in a Django process on `database`; its last line."""
    for attempt in (1, 2):
        done = subprocess.run(
            [sys.executable, "-m", "bench.scale", flag],
            cwd=REPO,
            env=bench_env(database),
            capture_output=True,
            text=True,
        )
        if done.returncode == 0:
            return done.stdout.strip().splitlines()[-1]
        print(f"{flag} in {database} failed (attempt {attempt}):\n{done.stderr}")
        time.sleep(2)
    raise RuntimeError(f"{flag} failed in {database}")


def users_in(database: str) -> str:
    return in_django(database, "--prepare-users")


def load_rows() -> None:
    """Load the 1,000,000 rows once; later runs find them and reuse them."""
    with psycopg.connect(f"{PG}/{SCALE_DB}", autocommit=True) as conn:
        have = conn.execute(
            "SELECT count(*), min(created_at) > now() - interval '20 days' FROM tasks_app_task "
            "WHERE name LIKE 'task %%'"
        ).fetchone()
        mixed = conn.execute(
            "SELECT count(DISTINCT task_type) FROM tasks_app_task WHERE owner_id = "
            "(SELECT id FROM auth_user WHERE username = 'bench-admin')"
        ).fetchone()[0]
        if have[0] >= ROWS and have[1] and mixed == len(TYPES):
            conn.execute(
                "DELETE FROM tasks_app_task WHERE name NOT LIKE 'task %%' AND created_at > "
                "now() - interval '300 days'"
            )
            print(f"reusing {have[0]:,} loaded rows", flush=True)
            return
        conn.execute("TRUNCATE tasks_app_task, tasks_app_taskevent CASCADE")
        started = time.perf_counter()
        for start_row in range(1, ROWS + 1, CHUNK):
            conn.execute(
                _INSERT,
                {
                    "owners": OWNERS,
                    "types": TYPES,
                    "age": 7 * 24 * 3600,
                    "start": start_row,
                    "stop": start_row + CHUNK - 1,
                },
            )
            print(f"loaded {start_row + CHUNK - 1:,} rows", flush=True)
        conn.execute("VACUUM ANALYZE tasks_app_task")
        print(f"loaded {ROWS:,} rows in {time.perf_counter() - started:.0f} s", flush=True)


def admin_cookie(port: int) -> str:
    """Log in to the admin as bench-admin; return the Cookie header of the session."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"http://127.0.0.1:{port}/admin/login/").read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode(
        {
            "username": "bench-admin",
            "password": PASSWORD,
            "csrfmiddlewaretoken": csrf,
            "next": "/admin/",
        }
    ).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/admin/login/",
        data=body,
        headers={"Referer": f"http://127.0.0.1:{port}/admin/login/"},
    )
    opener.open(request).read()
    cookies = {c.name: c.value for c in jar}
    assert "sessionid" in cookies, "admin login failed"
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def make_request(path: str, *, token: str, cookie: str):
    if path.startswith("/admin/"):
        headers = {"Cookie": cookie, "Accept": "text/html"}
    else:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    raw = build_request("GET", path, headers=headers)
    return lambda: raw


def start_server(database: str, port: int):
    from bench.common import RESULTS

    log = RESULTS.parent / "logs" / f"scale-{database}.log"
    log.parent.mkdir(exist_ok=True)
    cmd = [*niced(), sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    return start([*cmd, "config.asgi:application"], env=bench_env(database), log=log)


def measure_endpoints(seconds: float, repeats: int) -> dict:
    tokens = {db: users_in(db) for db in (SCALE_DB, EMPTY_DB)}
    ports = {db: free_port() for db in tokens}
    servers = {db: start_server(db, port) for db, port in ports.items()}
    runs: dict[str, list[dict]] = {}
    try:
        for port in ports.values():
            wait_for_port(port)
        cookies = {db: admin_cookie(port) for db, port in ports.items()}
        for repeat in range(repeats):
            for name, path in ENDPOINTS.items():
                targets = [("1m", SCALE_DB, path), ("empty", EMPTY_DB, path)]
                if name in DEFAULT_PAGINATOR:
                    targets.append(("drf_default", SCALE_DB, DEFAULT_PAGINATOR[name]))
                for label, db, target in targets:
                    result = load(
                        ports[db],
                        make_request(target, token=tokens[db], cookie=cookies[db]),
                        concurrency=1,
                        duration=seconds,
                        warmup=0.5,
                    ).summary()
                    assert set(result["statuses"]) == {"200"}, (name, label, result)
                    runs.setdefault(f"{name}|{label}", []).append(result)
                    print(f"[{repeat + 1}/{repeats}] {name} {label}: {result}", flush=True)
            for label, took in stats_first_calls(ports, tokens).items():
                runs.setdefault(f"stats_first_call|{label}", []).extend(took)
                print(f"[{repeat + 1}/{repeats}] stats first call {label}: {took} ms", flush=True)
    finally:
        for server in servers.values():
            stop(server)
    return runs


def stats_first_calls(ports: dict, tokens: dict, samples: int = 5) -> dict[str, list[float]]:
    """Milliseconds of GET stats with no minute summary cached (the first call after the cache
    was emptied), 1M and empty interleaved: the cost the cached minutes save the later calls."""
    import redis

    from tasks_app import selectors

    client = redis.Redis.from_url(REDIS_BENCH_URL)
    # Every server's cached minutes and settled sums, whatever its cache prefix.
    patterns = [
        f"*{key.split('{')[0]}*"
        for key in (selectors.STATS_MINUTE_CACHE_KEY, selectors.STATS_SETTLED_CACHE_KEY)
    ]
    took: dict[str, list[float]] = {}
    for _ in range(samples):
        for label, db in (("1m", SCALE_DB), ("empty", EMPTY_DB)):
            cached = [key for pattern in patterns for key in client.scan_iter(match=pattern)]
            if cached:
                client.delete(*cached)
            request = urllib.request.Request(
                f"http://127.0.0.1:{ports[db]}{ENDPOINTS['stats']}",
                headers={"Authorization": f"Bearer {tokens[db]}", "Accept": "application/json"},
            )
            started = time.perf_counter()
            with urllib.request.urlopen(request) as response:
                response.read()
            took.setdefault(label, []).append(round((time.perf_counter() - started) * 1000, 1))
    return took


_EXPIRED = """
WITH made AS (
    INSERT INTO tasks_app_task (
        id, owner_id, name, task_type, params, priority, queue, status, task_system,
        progress, progress_message, steps, result, error_message, error_kind, traceback,
        attempts, max_retries, worker, created_at, queued_at, started_at, finished_at,
        callback_url, legal_hold, notify_email)
    SELECT gen_random_uuid(), (SELECT id FROM auth_user WHERE username = 'bench-admin'),
        'expired ' || g, 'example', '{}'::jsonb, 2, 'medium_priority', 'succeeded', 'celery',
        100, '', '[]'::jsonb, '{"ok": true}'::jsonb, '', '', '', 1, 3, 'bench@host',
        now() - interval '400 days', now() - interval '400 days',
        now() - interval '400 days', now() - interval '400 days', '', false, false
    FROM generate_series(1, %(n)s::int) AS g
    RETURNING id, created_at
)
INSERT INTO tasks_app_taskevent (task_id, at, from_status, to_status, attempt, detail)
SELECT made.id, made.created_at, e.f, e.t, 1, '{}'::jsonb FROM made,
    (VALUES ('', 'pending'), ('pending', 'queued'), ('queued', 'running'),
            ('running', 'succeeded')) AS e(f, t)
"""


def chunked_delete_by_id(*, older_than_days: int = 30, chunk: int = 5000) -> int:
    """Delete finished tasks older than the cut-off in chunks by id, in SQL.

    The baseline retention design: each chunk picks ids on the finished_at index, then in one
    transaction deletes or unlinks the rows that point at them (as their on_delete says) and
    the tasks themselves; no model instances are built.
    """
    from django.db import connection, models, transaction

    from tasks_app.models import Task

    relations = [
        (rel.related_model._meta.db_table, rel.field.column, rel.on_delete)
        for rel in Task._meta.related_objects
    ]
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM tasks_app_task WHERE finished_at < now() - %s * interval '1 day' "
                "AND NOT legal_hold ORDER BY finished_at LIMIT %s",
                [older_than_days, chunk],
            )
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                return deleted
            for table, column, on_delete in relations:
                if on_delete is models.CASCADE:
                    cursor.execute(f'DELETE FROM "{table}" WHERE "{column}" = ANY(%s)', [ids])
                elif on_delete is models.SET_NULL:
                    cursor.execute(
                        f'UPDATE "{table}" SET "{column}" = NULL WHERE "{column}" = ANY(%s)', [ids]
                    )
            cursor.execute("DELETE FROM tasks_app_task WHERE id = ANY(%s)", [ids])
            deleted += len(ids)


def prune_variants() -> dict:
    """The bench's chunked SQL delete, and the ops purge when it is in the tree."""
    variants = {"chunked_sql_delete": lambda: chunked_delete_by_id()}
    try:
        from tasks_app import maintenance
    except ImportError:
        return variants
    variants["maintenance_prune_expired"] = lambda: maintenance.prune_expired().tasks
    return variants


def measure_prune(rows: int, repeats: int) -> dict[str, list[dict]]:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from bench.priority import queue_backlog
    from tasks_app.models import Task

    owner = get_user_model().objects.get(username="bench-admin")
    results: dict[str, list[dict]] = {}
    for repeat in range(repeats):
        for name, prune in prune_variants().items():
            with connection.cursor() as cursor:
                cursor.execute(_EXPIRED, {"n": rows})
                cursor.execute("ANALYZE tasks_app_task")
            flush_broker()
            queue_backlog(owner, 20_000)
            worker = start_worker(f"scale-prune-{repeat}", database=SCALE_DB)
            try:
                time.sleep(3)  # the worker is up and draining
                before = Task.objects.filter(name="backlog", status="succeeded").count()
                started = time.perf_counter()
                deleted = prune()
                elapsed = time.perf_counter() - started
                during = Task.objects.filter(name="backlog", status="succeeded").count() - before
            finally:
                stop(worker)
                flush_broker()
                Task.objects.filter(name="backlog").delete()
            result = {
                "rows": deleted,
                "seconds": round(elapsed, 3),
                "rows_per_s": round(deleted / elapsed),
                "worker_tasks_done_meanwhile": during,
            }
            assert deleted >= rows, result
            with connection.cursor() as cursor:
                # Leave the tables as autovacuum eventually would (it may be off, as on the
                # machine these were measured on): the next run's scans and estimates must not
                # pay for this run's dead task and event rows.
                cursor.execute("VACUUM ANALYZE tasks_app_task, tasks_app_taskevent")
            results.setdefault(name, []).append(result)
            print(f"[{repeat + 1}/{repeats}] {name}: {result}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prune-rows", type=int, default=100_000)
    parser.add_argument(
        "--baseline-rows",
        type=int,
        default=0,
        help="rows in the comparison table (0: empty); a few thousand render the same full "
        "pages as the 1M table, so only the table's size differs",
    )
    parser.add_argument("--prepare-users", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fold-counts", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.prepare_users or args.fold_counts:
        import django

        django.setup()
        from tasks_app import counts

        print(prepare_users() if args.prepare_users else counts.fold())
        return

    use_database(SCALE_DB)
    prepare_database(SCALE_DB)
    prepare_database(EMPTY_DB)
    with psycopg.connect(f"{PG}/{EMPTY_DB}", autocommit=True) as conn:
        conn.execute("TRUNCATE tasks_app_task, tasks_app_taskevent CASCADE")
    users_in(SCALE_DB)
    if args.baseline_rows:
        users_in(EMPTY_DB)
        with psycopg.connect(f"{PG}/{EMPTY_DB}", autocommit=True) as conn:
            conn.execute(
                _INSERT,
                {
                    "owners": OWNERS,
                    "types": TYPES,
                    "age": 7 * 24 * 3600,
                    "start": 1,
                    "stop": args.baseline_rows,
                },
            )
            conn.execute("VACUUM ANALYZE tasks_app_task")
    load_rows()
    # The sweep folds the task counts every 15 s (tasks_app.counts); a load of 1,000,000 rows
    # left a move per task, which its first sweep would fold.
    for database in (SCALE_DB, EMPTY_DB):
        print(f"folded {in_django(database, '--fold-counts')} moves in {database}", flush=True)
    import django

    django.setup()
    runs = measure_endpoints(args.seconds, args.repeats)
    prune = measure_prune(args.prune_rows, args.repeats) if args.prune_rows else {}

    summary: dict = {}
    rows = []
    for name in ENDPOINTS:
        big = {k: median([r[k] for r in runs[f"{name}|1m"]]) for k in ("p50_ms", "p99_ms", "rps")}
        empty = {
            k: median([r[k] for r in runs[f"{name}|empty"]]) for k in ("p50_ms", "p99_ms", "rps")
        }
        vs_empty = ratio(big["rps"], empty["rps"])
        entry = {"1m": big, "empty": empty, "vs_empty": vs_empty}
        entry["goal_p99_90ms"] = big["p99_ms"] <= 90
        entry["goal_vs_empty_0.9"] = vs_empty >= 0.9
        vs_default = "—"
        if name in DEFAULT_PAGINATOR:
            default = {
                k: median([r[k] for r in runs[f"{name}|drf_default"]])
                for k in ("p50_ms", "p99_ms", "rps")
            }
            vs_default = ratio(big["rps"], default["rps"])
            entry.update(drf_default=default, vs_drf_default=vs_default)
            entry["goal_vs_default_10x"] = vs_default >= 10
        summary[name] = entry
        rows.append(
            [
                name,
                big["p50_ms"],
                big["p99_ms"],
                empty["p99_ms"],
                entry.get("drf_default", {}).get("p99_ms", "—"),
                vs_empty,
                vs_default,
                big["p99_ms"] <= 90,
            ]
        )
    first_calls = {label: runs[f"stats_first_call|{label}"] for label in ("1m", "empty")}
    summary["stats_first_call"] = {
        label: {"median_ms": median(took), "max_ms": max(took)}
        for label, took in first_calls.items()
    }
    summary["prune"] = {
        name: {
            "rows_per_s": median([p["rows_per_s"] for p in runs_]),
            "goal_50k": median([p["rows_per_s"] for p in runs_]) >= 50_000,
        }
        for name, runs_ in prune.items()
    }
    markdown = (
        f"# Scale: {ROWS:,} task rows\n\n"
        f"One client, {args.seconds:g} s per call, median of {args.repeats} interleaved rounds; "
        "staff user (every row visible). `vs empty` and `vs DRF default` are requests/s "
        "ratios (goals ≥ 0.9 and ≥ 10); p99 goal ≤ 90 ms.\n\n"
        + md_table(
            [
                "call",
                "1M p50 ms",
                "1M p99 ms",
                "empty p99 ms",
                "DRF default p99 ms",
                "vs empty",
                "vs DRF default",
                "p99 ≤ 90",
            ],
            rows,
        )
        + "\nstats keeps each settled minute's summary in the cache; its first call after the "
        "cache was emptied reads the whole hour's rows. Median / max of "
        f"{len(first_calls['1m'])} such calls: 1M "
        f"{summary['stats_first_call']['1m']['median_ms']} / "
        f"{summary['stats_first_call']['1m']['max_ms']} ms, empty "
        f"{summary['stats_first_call']['empty']['median_ms']} / "
        f"{summary['stats_first_call']['empty']['max_ms']} ms.\n"
        + f"\nRetention cleanup of {args.prune_rows:,} expired rows (4 events each), chunks "
        "of 5,000 by id, while a worker drains no-op tasks on the same database "
        "(goal ≥ 50,000 rows/s):\n\n"
        + md_table(
            ["cleanup", "median rows/s", "runs (rows/s, worker tasks meanwhile)", "≥ 50,000"],
            [
                [
                    name,
                    f"{summary['prune'][name]['rows_per_s']:,}",
                    ", ".join(
                        f"{p['rows_per_s']:,} ({p['worker_tasks_done_meanwhile']})" for p in r
                    ),
                    summary["prune"][name]["goal_50k"],
                ]
                for name, r in prune.items()
            ],
        )
        + "\n`chunked_sql_delete` is bench/scale.py's chunked delete by id; "
        "`maintenance_prune_expired` is tasks_app.maintenance.prune_expired (one SQL statement "
        "per chunk on PostgreSQL), measured when that module is in the tree.\n"
        + f"\n{host_note()}\n"
    )
    if args.baseline_rows:
        markdown = markdown.replace("empty", f"{args.baseline_rows:,}-row")
    name = f"scale-vs-{args.baseline_rows}-rows" if args.baseline_rows else "scale"
    path = write_results(name, {"runs": runs, "prune": prune, "summary": summary}, markdown)
    print(markdown)
    print(json.dumps(summary["prune"]))
    print(f"written {path}")


if __name__ == "__main__":
    main()
