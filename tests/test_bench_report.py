"""bench.report reads every benchmark's summary as that benchmark writes it."""

from bench.report import rows_relay_ab


def test_relay_ab_rows_skip_the_summaries_other_figures():
    summary = {
        "asgi|thread|16": {
            "plain_create": 250.9,
            "submit": 215.3,
            "ratio": 0.858,
            "goal_met": True,
        },
        "wsgi|process|64": {
            "plain_create": 300.0,
            "submit": 230.0,
            "ratio": 0.767,
            "goal_met": False,
        },
        "asgi|process_over_thread|16": 1.105,
        "idle_hand_over_ms": {"thread": {"median": 2.85}, "process": {"median": 3.81}},
    }

    rows = rows_relay_ab({"summary": summary})

    assert [row[2] for row in rows] == [0.858, 0.767]
    assert rows[0][1] == "asgi, 16 clients, relay thread: submit 215.3 vs plain create 250.9 req/s"
    assert [row[4] for row in rows] == ["met", "**missed**"]
