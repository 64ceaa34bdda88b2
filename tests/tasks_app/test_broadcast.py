"""Events reach channel-layer groups in order, numbered, decodable by Channels."""

import asyncio

import pytest
from channels.layers import get_channel_layer

from tasks_app.broadcast import broadcaster, task_group, user_group


def received_by_task_group(task_id: str, publish, *, count: int) -> tuple:
    """Listen to the task's group, run `publish` on another thread, and return what it
    returned with the first `count` messages the group received."""

    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(task_group(task_id), channel)
        await asyncio.sleep(0.1)
        returned = await asyncio.to_thread(publish)
        got = [await asyncio.wait_for(layer.receive(channel), 2) for _ in range(count)]
        await layer.flush()
        return returned, got

    return asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_events_reach_task_and_user_groups_with_increasing_seq(clean_redis):
    task_id, owner_id = "5b1f7a3e-0000-4000-8000-000000000001", 7

    async def scenario():
        layer = get_channel_layer()
        task_channel = await layer.new_channel()
        user_channel = await layer.new_channel()
        await layer.group_add(task_group(task_id), task_channel)
        await layer.group_add(user_group(owner_id), user_channel)
        await asyncio.sleep(0.1)  # let the subscriptions land
        seqs = [
            await asyncio.to_thread(
                broadcaster.send,
                task_id=task_id,
                owner_id=owner_id,
                event={"type": "progress", "progress": p, "message": "步骤"},
            )
            for p in (10, 20)
        ]
        got_task = [await asyncio.wait_for(layer.receive(task_channel), 2) for _ in seqs]
        got_user = [await asyncio.wait_for(layer.receive(user_channel), 2) for _ in seqs]
        await layer.flush()
        return seqs, got_task, got_user

    seqs, got_task, got_user = asyncio.run(scenario())

    assert seqs == [1, 2]
    assert (
        got_task
        == got_user
        == [
            {
                "type": "task.event",
                "event": {"type": "progress", "progress": 10, "message": "步骤"},
                "seq": 1,
            },
            {
                "type": "task.event",
                "event": {"type": "progress", "progress": 20, "message": "步骤"},
                "seq": 2,
            },
        ]
    )
    assert broadcaster.current_seq(task_id) == 2


@pytest.mark.django_db(transaction=True)
def test_a_status_event_sent_now_follows_the_events_queued_before_it(clean_redis):
    """publish_now never overtakes queued progress events; idle, it sends on the caller's
    thread and has the event numbered before it returns."""
    task_id, owner_id = "5b1f7a3e-0000-4000-8000-000000000002", 8

    def publish():
        for p in range(1, 51):
            broadcaster.publish(
                task_id=task_id, owner_id=owner_id, event={"type": "progress", "progress": p}
            )
        broadcaster.publish_now(task_id=task_id, owner_id=owner_id, event={"type": "completed"})
        after_queued = broadcaster.current_seq(task_id)
        broadcaster.publish_now(task_id=task_id, owner_id=owner_id, event={"type": "x"})
        return after_queued, broadcaster.current_seq(task_id)

    (after_queued, after_idle), got = received_by_task_group(task_id, publish, count=52)

    assert (after_queued, after_idle) == (51, 52)
    assert [m["seq"] for m in got] == list(range(1, 53))
    assert [m["event"]["type"] for m in got[-2:]] == ["completed", "x"]
    assert [m["event"]["progress"] for m in got[:50]] == list(range(1, 51))


@pytest.mark.django_db(transaction=True)
def test_a_short_tasks_running_and_last_event_leave_in_one_script_call(clean_redis):
    """The sender waits up to the linger for more events, and a terminal event ends the wait:
    "running" and "completed" queued together cost one Redis call, numbered in order."""
    task_id, owner_id = "5b1f7a3e-0000-4000-8000-000000000003", 9
    calls: list[int] = []
    real = broadcaster._publish_script

    def counting(events):
        calls.append(len(events))
        return real(events)

    def publish():
        broadcaster.flush()  # the sender thread is up and idle
        broadcaster._publish_script = counting
        try:
            broadcaster.publish(
                task_id=task_id, owner_id=owner_id, event={"type": "status", "n": 1}
            )
            broadcaster.publish(
                task_id=task_id, owner_id=owner_id, event={"type": "completed", "n": 2}
            )
            broadcaster.flush()
        finally:
            del broadcaster._publish_script

    _, got = received_by_task_group(task_id, publish, count=2)

    assert calls == [2]
    assert [(m["seq"], m["event"]["n"]) for m in got] == [(1, 1), (2, 2)]


def test_the_linger_ends_at_a_terminal_event_or_a_flush_and_otherwise_times_out():
    import queue
    import threading
    import time

    from tasks_app.broadcast import Broadcaster

    events = queue.SimpleQueue()
    running = ("t", 1, {"type": "status"})
    done = ("t", 1, {"type": "completed"})
    later = ("u", 1, {"type": "status"})
    for item in (running, done, later):
        events.put(item)
    assert Broadcaster._next_batch(events, linger=5.0) == [running, done]
    started = time.monotonic()
    assert Broadcaster._next_batch(events, linger=0.05) == [later]  # nothing more came
    assert time.monotonic() - started >= 0.05

    marker = threading.Event()
    events.put(running)
    events.put(marker)
    started = time.monotonic()
    assert Broadcaster._next_batch(events, linger=5.0) == [running, marker]
    assert time.monotonic() - started < 2.5
