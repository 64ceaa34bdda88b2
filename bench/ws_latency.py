"""Worker → WebSocket client latency: Casework's broadcast against channels-redis's default.

For each layer — `core` (channels_redis.core.RedisChannelLayer, the channels-redis default,
sent with async_to_sync(group_send) per event) and `pubsub` (Casework: one Lua INCR+PUBLISH
over a long-lived connection onto channels_redis.pubsub) — Daphne serves the task consumer,
N clients watch one task (on `core` each consumer joins the task's group itself, Channels'
usual pattern; on `pubsub` Daphne's process joins it once, tasks_app/fanout.py), and this
process broadcasts events at 20/s stamped with their send time. Runs are interleaved (core,
pubsub, core, pubsub, ...) and the median of the repeats is reported. Prints p50/p99 latency,
lost events and the broadcast call's cost per event.

    .venv/bin/python -m bench.ws_latency [--repeats 3] [--events 100] [--clients 1,100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import uuid
from pathlib import Path

from bench.common import (
    free_port,
    median,
    percentile,
    results_name,
    server_env,
    setup_django,
    start,
    stop,
    wait_for_port,
    write_results,
)

RATE = 20  # events per second
DEFAULT_CLIENTS = "1,100"
DEFAULT_LAYERS = "core,pubsub"


def prepare_task():
    from django.contrib.auth import get_user_model
    from knox.models import AuthToken

    from tasks_app.models import Task, TaskStatus

    user, _ = get_user_model().objects.get_or_create(username="bench-ws")
    _, token = AuthToken.objects.create(user)
    task = Task.objects.create(
        owner=user, name="ws bench", task_type="example", status=TaskStatus.RUNNING
    )
    return task, token


def use_layer(layer: str) -> None:
    """Point this process's channel layer (and so the broadcaster) at `layer`."""
    from channels.layers import channel_layers
    from django.conf import settings

    settings.CHANNEL_LAYERS["default"]["BACKEND"] = settings.CHANNEL_LAYER_BACKENDS[layer]
    channel_layers.backends = {}


async def watch(url: str, token: str, expected: int, received: list, ready: asyncio.Event):
    from websockets.asyncio.client import connect

    headers = {"Authorization": f"Bearer {token}"}
    async with connect(url, additional_headers=headers, max_queue=None) as ws:
        json.loads(await ws.recv())  # the snapshot
        ready.set()
        deadline = None
        while len(received) < expected:
            timeout = 5.0 if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout)
            except TimeoutError:
                return
            now = time.time_ns()
            event = json.loads(raw)
            if event.get("type") == "progress" and "t" in event:
                received.append((now - event["t"]) / 1e6)
                if event.get("last"):
                    deadline = time.monotonic() + 2.0


def publish(task, events: int, costs: list) -> None:
    from django.db import connection

    from tasks_app.broadcast import broadcaster

    for i in range(events):
        started = time.perf_counter()
        broadcaster.send(
            task_id=task.id,
            owner_id=task.owner_id,
            event={
                "type": "progress",
                "task_id": str(task.id),
                "progress": i % 100,
                "i": i,
                "t": time.time_ns(),
                "last": i == events - 1,
            },
        )
        costs.append((time.perf_counter() - started) * 1000)
        time.sleep(max(0.0, 1 / RATE - (time.perf_counter() - started)))
    connection.close()


async def one_run(url: str, token: str, task, clients: int, events: int) -> dict:
    per_client: list[list[float]] = [[] for _ in range(clients)]
    ready = [asyncio.Event() for _ in range(clients)]
    watchers = [
        asyncio.create_task(watch(url, token, events, per_client[i], ready[i]))
        for i in range(clients)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 60)
    await asyncio.sleep(0.5)  # subscriptions settle
    costs: list[float] = []
    thread = threading.Thread(target=publish, args=(task, events, costs))
    thread.start()
    await asyncio.gather(*watchers)
    thread.join()
    latencies = [v for client in per_client for v in client]
    return {
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "lost": clients * events - len(latencies),
        "send_cost_ms": median(costs),
    }


def run_layer(layer: str, clients_list: list[int], events: int, log_dir: Path) -> dict:
    use_layer(layer)
    task, token = prepare_task()
    port = free_port()
    daphne = start(
        [
            ".venv/bin/python",
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ],
        env=server_env(CHANNELS_LAYER=layer),
        log=log_dir / f"daphne-{layer}.log",
    )
    try:
        wait_for_port(port)
        url = f"ws://127.0.0.1:{port}/ws/tasks/{task.id}/"
        return {
            clients: asyncio.run(one_run(url, token, task, clients, events))
            for clients in clients_list
        }
    finally:
        stop(daphne)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--clients", default=DEFAULT_CLIENTS)
    parser.add_argument("--layers", default=DEFAULT_LAYERS)
    args = parser.parse_args()
    clients_list = [int(c) for c in args.clients.split(",")]
    setup_django()
    log_dir = Path("/tmp") / f"casework-bench-{uuid.uuid4().hex[:8]}"
    log_dir.mkdir()
    layers = args.layers.split(",")
    runs: dict[str, list[dict]] = {layer: [] for layer in layers}
    for repeat in range(args.repeats):
        for layer in layers:
            result = run_layer(layer, clients_list, args.events, log_dir)
            runs[layer].append(result)
            print(f"repeat {repeat + 1} {layer}: {json.dumps(result)}", flush=True)

    summary = {
        layer: {
            clients: {
                key: median([run[clients][key] for run in runs[layer]])
                for key in ("p50_ms", "p99_ms", "lost", "send_cost_ms")
            }
            for clients in clients_list
        }
        for layer in runs
    }
    lines = [
        "# Worker → WebSocket latency",
        "",
        f"{args.events} events at {RATE}/s per run, median of {args.repeats} interleaved runs.",
        "",
        "| layer | clients | p50 ms | p99 ms | lost | broadcast call ms |",
        "|---|---|---|---|---|---|",
    ]
    for layer in layers:
        for clients in clients_list:
            s = summary[layer][clients]
            lines.append(
                f"| {layer} | {clients} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | "
                f"{s['lost']:.0f} | {s['send_cost_ms']:.3f} |"
            )
    lines.append("")
    for clients in clients_list if set(layers) == {"core", "pubsub"} else []:
        core, ours = summary["core"][clients], summary["pubsub"][clients]
        lines.append(
            f"- {clients} client(s): p99 ratio pubsub/core = "
            f"{ours['p99_ms'] / core['p99_ms']:.2f}; broadcast cost ratio = "
            f"{ours['send_cost_ms'] / core['send_cost_ms']:.2f}"
        )
    markdown = "\n".join(lines) + "\n"
    print(markdown)
    name = results_name("ws_latency", args, {"clients": DEFAULT_CLIENTS, "layers": DEFAULT_LAYERS})
    path = write_results(name, {"runs": runs, "summary": summary}, markdown)
    print(f"written {path}")


if __name__ == "__main__":
    main()
