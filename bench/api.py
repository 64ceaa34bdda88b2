"""API latency and throughput: Casework's endpoints against plain DRF views of the same rows.

Two servers of the same project (bench/settings.py, bench/urls.py), both running at once under
`nice -n 10`: Daphne (ASGI, one process — how the stack serves) and gunicorn (WSGI, 2 sync
workers, one per core). bench/load.py drives 1, 16 and 64 concurrent keep-alive clients with a
bearer token. Endpoints, interleaved round by round:
- reads of one succeeded task: Casework's /tasks/{id}/status and /tasks/{id}/ against a plain
  DRF RetrieveAPIView of the row (ModelSerializer, all fields);
- writes: POST /tasks/ (task_submit: row, event, publish, queued) against a plain DRF
  CreateAPIView that inserts the row.

    .venv/bin/python -m bench.api [--seconds 5] [--repeats 3] [--clients 1,16,64]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time

from bench.common import (
    WORK_DB,
    api_token,
    bench_env,
    ensure_user,
    flush_broker,
    free_port,
    host_note,
    md_table,
    median,
    niced,
    ratio,
    results_name,
    start,
    stop,
    wait_for_port,
    work_database_user,
    write_results,
)
from bench.load import build_request, load

SERVERS = ("asgi", "wsgi")
RELAY_NOTE = {
    "thread": "a thread in each server process (CASEWORK_RELAY=thread, the default)",
    "process": "one `manage.py relay` process beside both servers (CASEWORK_RELAY=process), "
    "under the same `nice -n 10`",
}
DEFAULT_CLIENTS = "1,16,64"
READS = ("plain_retrieve", "status", "detail")
# Writes come from this many users in turn, so each user's unfinished tasks stay as few as a
# production user's (≤ ~30 per window with no worker running) and the product's active-task
# cap (200) applies unchanged. From one user, every submit's capped count walked that user's
# whole window of queued rows (up to ~1,700) once the bench lifted the cap: 1.53 against
# 0.74-0.90 ms of PostgreSQL CPU a submit, a workload the cap forbids in production.
WRITERS = 64
WRITES = ("plain_create", "submit")


def start_server(kind: str, port: int | None, relay: str):
    """A server of `kind`, or with kind "relay" the relay process (CASEWORK_RELAY=process)."""
    from bench.common import RESULTS

    log = RESULTS.parent / "logs" / f"api-{kind}-{relay}.log"
    log.parent.mkdir(exist_ok=True)
    if kind == "relay":
        cmd = [sys.executable, "manage.py", "relay"]
    elif kind == "asgi":
        cmd = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        cmd += ["config.asgi:application"]
    else:
        cmd = [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}"]
        cmd += ["--backlog", "2048", "config.wsgi:application"]
    return start([*niced(), *cmd], env=bench_env(WORK_DB, CASEWORK_RELAY=relay), log=log)


def prepare_rows(user):
    from django.utils import timezone

    from tasks_app.models import Task, TaskStatus

    now = timezone.now()
    task = Task.objects.create(
        owner=user,
        name="api bench",
        task_type="bench.noop",
        status=TaskStatus.SUCCEEDED,
        attempts=1,
        progress=100,
        result={"pages": 12, "summary": "done"},
        queued_at=now,
        started_at=now,
        finished_at=now,
    )
    return task


def finish_submitted(owners: list, *, relayed: bool) -> tuple[int, float]:
    """Finish the tasks a write round left queued, as workers would have.

    Returns the round's rows the relays had not handed over when the timed load ended, and
    how long they took to: a submit's figure counts requests answered, and a relay that falls
    behind would flatter it by leaving work for after the window.

    No worker runs here, so without this every submit round would leave its writers' tasks
    active: each submit's capped count of its owner's unfinished tasks would read more of them
    round by round, and after a few rounds the writers would reach the active-task cap (200).
    Outside the timed loads.
    """
    from django.db import connection
    from django.utils import timezone

    from tasks_app.models import Task, TaskStatus

    # After a submit round the servers' relays hand its rows to the broker after answering;
    # let them finish first, so no hand-over of this round overlaps the next one. (A plain
    # create writes its rows finished: nothing hands them over.)
    started = time.monotonic()
    pending = Task.objects.filter(owner__in=owners, status=TaskStatus.PENDING)
    backlog = pending.count() if relayed else 0
    while backlog and pending.exists():
        if time.monotonic() > started + 60:
            raise RuntimeError("the servers' relays did not hand the round's tasks over")
        time.sleep(0.01)
    drained = time.monotonic() - started if backlog else 0.0
    Task.objects.filter(owner__in=owners, status__in=TaskStatus.active()).update(
        status=TaskStatus.SUCCEEDED, finished_at=timezone.now()
    )
    flush_broker()
    # Leave the tables as autovacuum would (it is off on the machine these were measured on):
    # without it every round's thousands of finished rows stayed behind as dead index entries
    # that the next rounds' active-task counts walked (62,000 dead task rows after one run;
    # submit at 64 clients slowed round by round, 268 -> 340 -> 399 ms p50).
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE tasks_app_task, tasks_app_taskevent")
    return backlog, drained


def requests_for(task_id, token: str, writer_tokens: list[str]) -> dict:
    """The requests of each endpoint: reads of `task_id` with `token` (its owner's), writes
    from the writers in turn (see WRITERS)."""

    def headers(bearer: str, **extra: str) -> dict:
        return {"Authorization": f"Bearer {bearer}", "Accept": "application/json", **extra}

    auth = headers(token)
    submit = json.dumps({"task_type": "bench.noop", "name": "api bench"}).encode()
    plain = json.dumps(
        {"task_type": "bench.noop", "name": "api bench", "params": {}, "priority": 2}
    ).encode()
    fixed = {
        "plain_retrieve": build_request("GET", f"/bench/plain/tasks/{task_id}/", headers=auth),
        "status": build_request("GET", f"/api/v1/tasks/{task_id}/status", headers=auth),
        "detail": build_request("GET", f"/api/v1/tasks/{task_id}/", headers=auth),
    }
    made = {name: (lambda raw=raw: raw) for name, raw in fixed.items()}
    for name, path, body in (
        ("submit", "/api/v1/tasks/", submit),
        ("plain_create", "/bench/plain/tasks/", plain),
    ):
        raws = [
            build_request(
                "POST",
                path,
                headers=headers(writer, **{"Content-Type": "application/json"}),
                body=body,
            )
            for writer in writer_tokens
        ]
        made[name] = lambda turn=itertools.cycle(raws): next(turn)
    return made


def writers(count: int = WRITERS) -> tuple[list, list[str]]:
    """The users the writes come from, and a token of each."""
    users = [ensure_user(f"bench-api-writer-{i}") for i in range(count)]
    return users, [api_token(user) for user in users]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clients", default=DEFAULT_CLIENTS)
    parser.add_argument(
        "--relay",
        choices=("thread", "process"),
        default="thread",
        help="where the outbox relay runs: a thread in each server process, or one "
        "`manage.py relay` process for both servers (CASEWORK_RELAY)",
    )
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]

    user = work_database_user("bench-api")
    task = prepare_rows(user)
    writer_users, writer_tokens = writers()
    made = requests_for(task.id, api_token(user), writer_tokens)
    ports = {kind: free_port() for kind in SERVERS}
    servers = {kind: start_server(kind, port, args.relay) for kind, port in ports.items()}
    if args.relay == "process":
        servers["relay"] = start_server("relay", None, args.relay)
    runs: dict = {}
    try:
        for port in ports.values():
            wait_for_port(port)
        for repeat in range(args.repeats):
            for kind in SERVERS:
                for concurrency in clients:
                    for endpoint in READS + WRITES:
                        result = load(
                            ports[kind],
                            made[endpoint],
                            concurrency=concurrency,
                            duration=args.seconds,
                            warmup=0.5,
                        ).summary()
                        key = f"{kind}|{concurrency}|{endpoint}"
                        # A failed request is fast: an error counted as a request would flatter
                        # the figures (Daphne's connection leak once made 5-50% of them 500s).
                        expected = "201" if endpoint in WRITES else "200"
                        assert set(result["statuses"]) == {expected} and not result["errors"], (
                            key,
                            result,
                        )
                        runs.setdefault(key, []).append(result)
                        if endpoint in WRITES:
                            backlog, drained = finish_submitted(
                                writer_users, relayed=endpoint == "submit"
                            )
                            # Requests per second with the relays' catching up counted in.
                            result["relay_backlog"] = backlog
                            result["relay_drain_s"] = round(drained, 3)
                            result["rps_drained"] = round(
                                result["requests"] / (result["elapsed_s"] + drained), 1
                            )
                        print(f"[{repeat + 1}/{args.repeats}] {key}: {result}", flush=True)
    finally:
        for server in servers.values():
            stop(server)
        flush_broker()

    def med(kind, concurrency, endpoint, field):
        return median([r[field] for r in runs[f"{kind}|{concurrency}|{endpoint}"]])

    summary: dict = {}
    rows = []
    for kind in SERVERS:
        for concurrency in clients:
            base_p50 = med(kind, concurrency, "plain_retrieve", "p50_ms")
            base_rps = med(kind, concurrency, "plain_create", "rps")
            for endpoint in READS + WRITES:
                p50 = med(kind, concurrency, endpoint, "p50_ms")
                p99 = med(kind, concurrency, endpoint, "p99_ms")
                rps = med(kind, concurrency, endpoint, "rps")
                if endpoint in READS:
                    vs = ratio(p50, base_p50)
                    goal = "—" if endpoint == "plain_retrieve" else vs <= 1.1
                else:
                    vs = ratio(rps, base_rps)
                    goal = "—" if endpoint == "plain_create" else vs >= 0.8
                summary[f"{kind}|{concurrency}|{endpoint}"] = {
                    "p50_ms": p50,
                    "p99_ms": p99,
                    "rps": rps,
                    "vs_plain": vs,
                    "goal_met": goal,
                }
                if endpoint == "submit":
                    drained = med(kind, concurrency, endpoint, "rps_drained")
                    summary[f"{kind}|{concurrency}|{endpoint}"].update(
                        rps_drained=drained,
                        vs_plain_drained=ratio(drained, base_rps),
                        relay_backlog=med(kind, concurrency, endpoint, "relay_backlog"),
                        relay_drain_s=med(kind, concurrency, endpoint, "relay_drain_s"),
                    )
                rows.append([kind, concurrency, endpoint, p50, p99, rps, vs, goal])
    for concurrency in clients:
        for endpoint in ("status", "submit"):
            summary[f"wsgi_over_asgi_rps|{concurrency}|{endpoint}"] = ratio(
                med("wsgi", concurrency, endpoint, "rps"),
                med("asgi", concurrency, endpoint, "rps"),
            )
    markdown = (
        "# API: Casework against plain DRF, ASGI (Daphne) against WSGI (gunicorn)\n\n"
        f"Outbox relay: {RELAY_NOTE[args.relay]}.\n\n"
        f"{args.seconds:g} s per measurement, median of {args.repeats} interleaved rounds. "
        "Reads: `vs plain` = p50 latency / the plain RetrieveAPIView's (goal ≤ 1.1). Writes: "
        "`vs plain` = requests/s / the plain CreateAPIView's (goal ≥ 0.8).\n\n"
        + md_table(
            ["server", "clients", "endpoint", "p50 ms", "p99 ms", "req/s", "vs plain", "goal"],
            rows,
        )
        + "\nWSGI/ASGI requests/s: "
        + ", ".join(
            f"{e} at {c} clients {summary[f'wsgi_over_asgi_rps|{c}|{e}']}"
            for c in clients
            for e in ("status", "submit")
        )
        + "\n\nSubmit with the relays' catching up counted in (the rows they had not handed "
        "over when the window ended, median; the time they took; requests / (window + that "
        "time) against the plain create): "
        + "; ".join(
            f"{k} {c} clients {summary[f'{k}|{c}|submit']['relay_backlog']:g} rows, "
            f"{summary[f'{k}|{c}|submit']['relay_drain_s']:g} s, "
            f"{summary[f'{k}|{c}|submit']['vs_plain_drained']}×"
            for k in SERVERS
            for c in clients
        )
        + f"\n\n{host_note()}\n"
    )
    name = results_name("api", args, {"clients": DEFAULT_CLIENTS, "relay": "thread"})
    path = write_results(name, {"relay": args.relay, "runs": runs, "summary": summary}, markdown)
    print(markdown)
    print(f"written {path}")


if __name__ == "__main__":
    main()
