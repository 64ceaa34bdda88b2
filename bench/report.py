"""Gather the latest result of every benchmark into one table: bench/results/<date>-summary.md.

.venv/bin/python -m bench.report
"""

from __future__ import annotations

import json
import subprocess

from bench.common import REPO, RESULTS, host_note, md_table, write_results

NAMES = (
    "throughput",
    "priority",
    "api",
    "relay-ab",
    "scale",
    "scale-vs-2000-rows",
    "progress",
    "memory",
    "ws_latency",
)


def latest(name: str) -> dict | None:
    files = sorted(RESULTS.glob(f"????-??-??-{name}.json"))
    return json.loads(files[-1].read_text()) if files else None


def yes(value: bool) -> str:
    return "met" if value else "**missed**"


def rows_throughput(data: dict) -> list[list]:
    s = data["summary"]
    rate = s["tasks_per_s"]
    return [
        [
            "1 throughput",
            f"Casework {rate['casework']}/s vs bare Celery {rate['bare']}/s",
            s["casework_vs_bare"],
            "≥ 0.5×",
            yes(s["casework_vs_bare"] >= 0.5),
        ],
        [
            "1 throughput",
            f"Casework vs bare + django-celery-results {rate['bare_results']}/s",
            s["casework_vs_bare_results"],
            "≥ 3×",
            yes(s["casework_vs_bare_results"] >= 3),
        ],
        [
            "1 throughput",
            "added worker time per task (ms)",
            s["added_ms_per_task"],
            "≤ 1 ms",
            yes(s["added_ms_per_task"] <= 1),
        ],
    ]


def rows_priority(data: dict) -> list[list]:
    return [
        [
            "2 priority",
            f"{layout}: HIGH start {s['backlog_ms']} ms behind backlog vs {s['idle_ms']} ms idle",
            s["ratio"],
            "≤ 2×",
            yes(s["goal_within_2x"]),
        ]
        for layout, s in data["summary"].items()
    ]


def rows_api(data: dict) -> list[list]:
    rows = []
    for key, s in data["summary"].items():
        if key.startswith("wsgi_over_asgi") or s["goal_met"] == "—":
            continue
        server, clients, endpoint = key.split("|")
        goal = "≤ 1.1× latency" if endpoint in ("status", "detail") else "≥ 0.8× req/s"
        what = f"{server}, {clients} clients: {endpoint} p50 {s['p50_ms']} ms, {s['rps']} req/s"
        rows.append(["3 API", what, s["vs_plain"], goal, yes(s["goal_met"])])
    return rows


def rows_relay_ab(data: dict) -> list[list]:
    rows = []
    for key, s in data["summary"].items():
        if not isinstance(s, dict) or key.count("|") != 2:
            continue  # process_over_thread ratios, idle_hand_over_ms
        server, mode, clients = key.split("|")
        what = (
            f"{server}, {clients} clients, relay {mode}: submit {s['submit']} vs plain create "
            f"{s['plain_create']} req/s"
        )
        rows.append(["3 API", what, s["ratio"], "≥ 0.8× req/s", yes(s["goal_met"])])
    return rows


def rows_scale_vs_small(data: dict) -> list[list]:
    return [
        [
            "4 scale",
            f"{name}: 1M vs a 2,000-row table, same pages (req/s)",
            s["vs_empty"],
            "≥ 0.9×",
            yes(s["vs_empty"] >= 0.9),
        ]
        for name, s in data["summary"].items()
        if "vs_empty" in s
    ]


def rows_scale(data: dict) -> list[list]:
    rows = []
    for name, s in data["summary"].items():
        if name == "prune":
            for variant, p in s.items():
                rows.append(
                    [
                        "4 scale",
                        f"retention cleanup, {variant} (rows/s)",
                        f"{p['rows_per_s']:,}",
                        "≥ 50,000",
                        yes(p["goal_50k"]),
                    ]
                )
            continue
        if name == "stats_first_call":
            rows.append(
                [
                    "4 scale",
                    "stats, first call after its cache was emptied: 1M / empty (median ms)",
                    f"{s['1m']['median_ms']} / {s['empty']['median_ms']}",
                    "(no goal)",
                    "—",
                ]
            )
            continue
        rows.append(
            [
                "4 scale",
                f"{name} p99 on 1M rows (ms)",
                s["1m"]["p99_ms"],
                "≤ 90",
                yes(s["1m"]["p99_ms"] <= 90),
            ]
        )
        rows.append(
            [
                "4 scale",
                f"{name}: 1M vs empty (req/s)",
                s["vs_empty"],
                "≥ 0.9×",
                yes(s["vs_empty"] >= 0.9),
            ]
        )
        if "vs_drf_default" in s:
            rows.append(
                [
                    "4 scale",
                    f"{name}: vs DRF default paginator (req/s)",
                    s["vs_drf_default"],
                    "≥ 10×",
                    yes(s["vs_drf_default"] >= 10),
                ]
            )
    return rows


def rows_progress(data: dict) -> list[list]:
    s = data["summary"]
    return [
        [
            "5 progress",
            "one ctx.progress() call (ms)",
            s["progress_mean_ms"],
            "≤ 0.5 ms",
            yes(s["progress_mean_ms"] <= 0.5),
        ],
        [
            "5 progress",
            f"async_to_sync(group_send) {s['group_send_mean_ms']} ms / progress()",
            s["group_send_over_progress"],
            "≥ 10×",
            yes(s["group_send_over_progress"] >= 10),
        ],
        [
            "5 progress",
            "same, with every progress() call broadcasting",
            s["group_send_over_progress_broadcasting"],
            "≥ 10×",
            yes(s["group_send_over_progress_broadcasting"] >= 10),
        ],
        [
            "5 progress",
            "DB writes per task per second, any rate",
            s["max_db_writes_per_s"],
            "≤ 4",
            yes(s["max_db_writes_per_s"] <= 4),
        ],
    ]


def rows_ws(data: dict) -> list[list]:
    summary = data.get("summary") or {}
    core, pubsub = summary.get("core", {}), summary.get("pubsub", {})
    rows = []
    for clients in sorted(pubsub, key=int):
        ours, base = pubsub[clients], core.get(clients)
        goal = "≤ 10 ms" if clients == "1" else "≤ 0.5× baseline p99"
        if clients == "1":
            met = ours["p99_ms"] <= 10
        else:
            met = bool(base) and ours["p99_ms"] <= 0.5 * base["p99_ms"]
        what = f"worker → WebSocket p99, {clients} client(s): {ours['p99_ms']:.1f} ms"
        if base:
            what += f" (channels-redis default {base['p99_ms']:.1f} ms), lost {ours['lost']}"
        ratio_ = round(ours["p99_ms"] / base["p99_ms"], 3) if base else ""
        rows.append(["5 progress", what, ratio_, goal, yes(met and ours["lost"] == 0)])
    return rows


def rows_memory(data: dict) -> list[list]:
    rows = []
    for variant, s in data["summary"].items():
        last = next(v for k, v in s.items() if k.startswith("after_") and k != "after_100_mb")
        rows.append(
            [
                "6 memory",
                f"worker RSS, {variant}: {s['after_100_mb']} → {last} MB",
                s["growth"],
                "≤ 1.10×",
                yes(s["goal_within_10pct"]),
            ]
        )
    return rows


BUILDERS = {
    "throughput": rows_throughput,
    "priority": rows_priority,
    "api": rows_api,
    "relay-ab": rows_relay_ab,
    "scale": rows_scale,
    "scale-vs-2000-rows": rows_scale_vs_small,
    "progress": rows_progress,
    "memory": rows_memory,
    "ws_latency": rows_ws,
}


def main() -> None:
    rows = []
    sources = {}
    for name in NAMES:
        data = latest(name)
        if data is None:
            continue
        sources[name] = data.get("machine", {})
        try:
            rows += BUILDERS[name](data)
        except (KeyError, TypeError, StopIteration) as exc:
            rows.append([name, f"could not read the result: {exc!r}", "", "", ""])
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    markdown = (
        "# Benchmarks: the latest result of each\n\n"
        f"Code at `{commit}`. Ratios are Casework / the baseline (see each file for method).\n\n"
        + md_table(["#", "measure", "ratio / figure", "goal", "goal"], rows)
        + f"\n{host_note()}\n"
    )
    path = write_results("summary", {"rows": rows, "commit": commit}, markdown)
    print(markdown)
    print(f"written {path}")


if __name__ == "__main__":
    main()
