"""Where the machine's CPU goes per request: plain DRF create against submit, by process group.

One server (gunicorn with 2 sync workers, or Daphne) under `nice -n 10`, the relay as a thread
in it or as one `manage.py relay` process (`--relay`), 64 clients (bench/load.py, the writes of
bench/api.py: 64 users in turn). Around each window psutil reads the CPU time (user + system)
of the server's processes, the relay process, every PostgreSQL and Redis process and the load
generator; the difference divided by the requests answered is the CPU each costs a request.
Rounds alternate plain create and submit; medians are reported.

    .venv/bin/python -m bench.submit_cpu [--server wsgi|asgi] [--relay thread|process]
                                         [--seconds 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time

from bench.api import finish_submitted, prepare_rows, requests_for, start_server, writers
from bench.common import (
    api_token,
    flush_broker,
    free_port,
    host_note,
    md_table,
    median,
    results_name,
    stop,
    wait_for_port,
    work_database_user,
    write_results,
)
from bench.load import load

GROUPS = ("server", "relay", "postgres", "redis", "loadgen")
WARMUP = 0.5


def cpu_by_group(server, relay) -> dict[str, float]:
    import psutil

    def tree(proc) -> set[int]:
        if proc is None:
            return set()
        return {proc.pid} | {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}

    servers, relays = tree(server), tree(relay)
    seconds = dict.fromkeys(GROUPS, 0.0)
    for proc in psutil.process_iter(["name"]):
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        name = proc.info["name"] or ""
        if proc.pid in servers:
            group = "server"
        elif proc.pid in relays:
            group = "relay"
        elif name.startswith("postgres"):
            group = "postgres"
        elif name.startswith("redis"):
            group = "redis"
        elif proc.pid == os.getpid():
            group = "loadgen"
        else:
            continue
        seconds[group] += times.user + times.system
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", choices=("wsgi", "asgi"), default="wsgi")
    parser.add_argument("--relay", choices=("thread", "process"), default="process")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    user = work_database_user("bench-api")
    writer_users, writer_tokens = writers()
    made = requests_for(prepare_rows(user).id, api_token(user), writer_tokens)
    port = free_port()
    server = start_server(args.server, port, args.relay)
    relay = start_server("relay", None, "process") if args.relay == "process" else None
    runs: dict[str, list[dict]] = {"plain_create": [], "submit": []}
    try:
        wait_for_port(port)
        time.sleep(3)  # the relay process's start-up is not a request's cost
        for _ in range(args.repeats):
            for endpoint in runs:
                before = cpu_by_group(server, relay)
                result = load(
                    port, made[endpoint], concurrency=64, duration=args.seconds, warmup=WARMUP
                ).summary()
                time.sleep(0.3)  # the relay's last round belongs to the window
                after = cpu_by_group(server, relay)
                # The warm-up's requests are not counted but used CPU: count them at the rate.
                requests = result["requests"] + result["rps"] * WARMUP
                per = {g: round((after[g] - before[g]) / requests * 1000, 3) for g in GROUPS}
                per["total"] = round(sum(per.values()), 3)
                per["rps"] = result["rps"]
                runs[endpoint].append(per)
                print(endpoint, per, flush=True)
                finish_submitted(writer_users, relayed=endpoint == "submit")
    finally:
        for proc in (server, relay):
            if proc is not None:
                stop(proc)
        flush_broker()

    fields = (*GROUPS, "total", "rps")
    summary = {e: {f: median([r[f] for r in rs]) for f in fields} for e, rs in runs.items()}
    summary["submit_minus_plain_ms"] = {
        g: round(summary["submit"][g] - summary["plain_create"][g], 3) for g in (*GROUPS, "total")
    }
    rows = [[e, *(summary[e][f] for f in fields)] for e in runs]
    rows.append(["submit − plain", *summary["submit_minus_plain_ms"].values(), ""])
    markdown = (
        f"# CPU per request, {args.server} with the relay as a {args.relay}\n\n"
        f"64 clients, {args.seconds:g} s windows, median of {args.repeats} alternating rounds; "
        "ms of CPU (user + system) per request answered, by process group.\n\n"
        + md_table(["endpoint", *(f"{g} ms" for g in GROUPS), "total ms", "req/s"], rows)
        + f"\n{host_note()}\n"
    )
    name = results_name("submit_cpu", args, {"server": "wsgi", "relay": "process"})
    path = write_results(name, {"runs": runs, "summary": summary}, markdown)
    print(markdown)
    print(f"written {path}")


if __name__ == "__main__":
    main()
