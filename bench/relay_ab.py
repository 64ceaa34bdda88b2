"""Submit throughput with the outbox relay in each server process against in a process of its own.

The question: what does CASEWORK_RELAY=process (one `manage.py relay` for every web process)
save the servers, against the default thread in each process? Four servers run at once under
`nice -n 10`, a Daphne and a gunicorn (2 sync workers) per relay mode, and one relay process
beside the `process` pair; bench/load.py drives 16 and 64 keep-alive clients. Each round
measures, for every mode, server and client count in turn, the plain DRF create and then the
submit (bench/api.py's requests), so both modes' figures come from the same minutes. Reported:
median req/s and the median over rounds of each round's submit / plain create ratio (goal of
bench.api: ≥ 0.8), with the relays' backlog when each submit window ended. Then the idle
hand-over: single submits 50 ms apart to each mode's Daphne, and for each row the time from
its creation to the relay's `queued` (queued_at − created_at), median and max.

    .venv/bin/python -m bench.relay_ab [--seconds 3] [--repeats 5] [--clients 16,64]
"""

from __future__ import annotations

import argparse
import json
import time

from bench.api import finish_submitted, prepare_rows, requests_for, start_server, writers
from bench.common import (
    api_token,
    flush_broker,
    free_port,
    host_note,
    md_table,
    median,
    stop,
    wait_for_port,
    work_database_user,
    write_results,
)
from bench.load import load

MODES = ("thread", "process")
KINDS = ("asgi", "wsgi")


IDLE_SUBMITS = 40


def idle_hand_over(port: int, user, token: str) -> dict:
    """Submit one task at a time with pauses; how long each row waited to be queued."""
    import urllib.request

    from django.db.models import F

    from tasks_app.models import Task

    started = time.time()
    body = json.dumps({"task_type": "bench.noop", "name": "idle hand-over"}).encode()
    for _ in range(IDLE_SUBMITS):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/tasks/",
            data=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
        time.sleep(0.05)
    finish_submitted([user], relayed=True)
    waits = sorted(
        (row.total_seconds() * 1000)
        for row in Task.objects.filter(
            owner=user, name="idle hand-over", created_at__gte=_aware(started)
        ).values_list(F("queued_at") - F("created_at"), flat=True)
    )
    assert len(waits) == IDLE_SUBMITS, waits
    return {"median": round(median(waits), 2), "max": round(waits[-1], 2)}


def _aware(timestamp: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, tz=UTC)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clients", default="16,64")
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]

    user = work_database_user("bench-api")
    token = api_token(user)
    writer_users, writer_tokens = writers()
    made = requests_for(prepare_rows(user).id, token, writer_tokens)
    ports = {(mode, kind): free_port() for mode in MODES for kind in KINDS}
    procs = [start_server(kind, port, mode) for (mode, kind), port in ports.items()]
    procs.append(start_server("relay", None, "process"))
    runs: dict = {}
    try:
        for port in ports.values():
            wait_for_port(port)
        for repeat in range(args.repeats):
            for mode in MODES:
                for kind in KINDS:
                    for concurrency in clients:
                        key = f"{kind}|{mode}|{concurrency}"
                        pair = {}
                        for endpoint in ("plain_create", "submit"):
                            result = load(
                                ports[(mode, kind)],
                                made[endpoint],
                                concurrency=concurrency,
                                duration=args.seconds,
                                warmup=0.5,
                            ).summary()
                            assert set(result["statuses"]) == {"201"} and not result["errors"], (
                                key,
                                endpoint,
                                result,
                            )
                            backlog, drained = finish_submitted(
                                writer_users, relayed=endpoint == "submit"
                            )
                            pair[endpoint] = result["rps"]
                            if endpoint == "submit":
                                pair["relay_backlog"] = backlog
                                pair["relay_drain_s"] = round(drained, 3)
                        pair["ratio"] = round(pair["submit"] / pair["plain_create"], 3)
                        runs.setdefault(key, []).append(pair)
                        print(f"[{repeat + 1}/{args.repeats}] {key}: {pair}", flush=True)
        idle = {mode: idle_hand_over(ports[(mode, "asgi")], user, token) for mode in MODES}
    finally:
        for proc in procs:
            stop(proc)
        flush_broker()

    summary: dict = {}
    rows = []
    for kind in KINDS:
        for concurrency in clients:
            for mode in MODES:
                rounds = runs[f"{kind}|{mode}|{concurrency}"]
                entry = {
                    field: median([r[field] for r in rounds])
                    for field in ("plain_create", "submit", "ratio", "relay_backlog")
                }
                entry["ratios"] = [r["ratio"] for r in rounds]
                entry["goal_met"] = entry["ratio"] >= 0.8
                summary[f"{kind}|{mode}|{concurrency}"] = entry
                rows.append(
                    [
                        kind,
                        concurrency,
                        mode,
                        entry["plain_create"],
                        entry["submit"],
                        entry["ratio"],
                        ", ".join(f"{r:g}" for r in entry["ratios"]),
                        entry["relay_backlog"],
                        entry["goal_met"],
                    ]
                )
            summary[f"{kind}|process_over_thread|{concurrency}"] = round(
                summary[f"{kind}|process|{concurrency}"]["ratio"]
                / summary[f"{kind}|thread|{concurrency}"]["ratio"],
                3,
            )
    summary["idle_hand_over_ms"] = idle
    markdown = (
        "# Submit: the outbox relay as a thread in each server against a process of its own\n\n"
        f"{args.seconds:g} s per measurement, {args.repeats} rounds, each measuring every mode, "
        "server and client count in turn (plain create, then submit). `submit / plain` is the "
        "median over rounds of each round's ratio (goal ≥ 0.8); `backlog` the rows the relay "
        "had not handed over when a submit window ended (median).\n\n"
        + md_table(
            [
                "server",
                "clients",
                "relay",
                "plain create req/s",
                "submit req/s",
                "submit / plain",
                "each round",
                "backlog",
                "≥ 0.8",
            ],
            rows,
        )
        + "\nprocess / thread (ratios): "
        + ", ".join(
            f"{kind} {c} clients {summary[f'{kind}|process_over_thread|{c}']}×"
            for kind in KINDS
            for c in clients
        )
        + "\n\nIdle hand-over, submit to `queued` (queued_at − created_at, "
        + f"{IDLE_SUBMITS} submits 50 ms apart, Daphne): "
        + "; ".join(
            f"{mode} median {v['median']} ms, max {v['max']} ms" for mode, v in idle.items()
        )
        + f"\n\n{host_note()}\n"
    )
    path = write_results("relay-ab", {"runs": runs, "summary": summary}, markdown)
    print(markdown)
    print(f"written {path}")


if __name__ == "__main__":
    main()
