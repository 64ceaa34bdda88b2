"""Events reach channel-layer groups in order, numbered, decodable by Channels."""

import asyncio
import os
import signal
import threading
import time

import pytest
from channels.layers import get_channel_layer

from tasks_app import broadcast
from tasks_app.broadcast import CONNECTION_NAME, Broadcaster, broadcaster, task_group, user_group


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
def test_a_status_event_goes_behind_the_progress_events_handed_to_the_sender(clean_redis):
    """Progress events go through the sender thread; a status change published meanwhile
    never overtakes them, and publish_now returns once Redis has numbered it."""
    task_id, owner_id = "5b1f7a3e-0000-4000-8000-000000000002", 8

    def publish():
        for p in range(1, 51):
            broadcaster.publish_soon(
                task_id=task_id, owner_id=owner_id, event={"type": "progress", "progress": p}
            )
        broadcaster.publish(task_id=task_id, owner_id=owner_id, event={"type": "status"})
        broadcaster.publish_now(task_id=task_id, owner_id=owner_id, event={"type": "completed"})
        after_queued = broadcaster.current_seq(task_id)
        broadcaster.publish_now(task_id=task_id, owner_id=owner_id, event={"type": "x"})
        return after_queued, broadcaster.current_seq(task_id)

    (after_queued, after_idle), got = received_by_task_group(task_id, publish, count=53)

    assert (after_queued, after_idle) == (52, 53)
    assert [m["seq"] for m in got] == list(range(1, 54))
    assert [m["event"]["type"] for m in got[-3:]] == ["status", "completed", "x"]
    assert [m["event"]["progress"] for m in got[:50]] == list(range(1, 51))


@pytest.mark.django_db(transaction=True)
def test_a_progress_call_leaves_the_redis_write_to_the_sender_thread(clean_redis):
    """A status change is written by the thread that publishes it; progress events by the
    sender thread, so a task's progress call does no I/O."""
    task_id, owner_id = "5b1f7a3e-0000-4000-8000-000000000006", 11
    writers: list[str] = []
    real_write = broadcaster._write

    def recording_write(command):
        writers.append(threading.current_thread().name)
        real_write(command)

    def publish():
        broadcaster.flush()
        broadcaster._write = recording_write
        try:
            broadcaster.publish(task_id=task_id, owner_id=owner_id, event={"type": "status"})
            for p in (1, 2):
                broadcaster.publish_soon(
                    task_id=task_id, owner_id=owner_id, event={"type": "progress", "p": p}
                )
            broadcaster.flush()
        finally:
            del broadcaster._write
        return writers

    writers, got = received_by_task_group(task_id, publish, count=3)

    assert writers[0] != "casework-broadcast"
    assert writers[1:] == ["casework-broadcast", "casework-broadcast"]
    assert [m["event"]["type"] for m in got] == ["status", "progress", "progress"]


def event_connection_ids(client) -> list[int]:
    return [c["id"] for c in client.client_list() if c["name"] == CONNECTION_NAME]


@pytest.mark.django_db(transaction=True)
def test_publish_never_waits_for_redis_and_what_it_wrote_is_published_after(clean_redis):
    """A task's events are written, not waited for: while Redis is paused, publish returns at
    once; when Redis resumes, the events go out in order, numbered."""
    task_id, owner_id = "5b1f7a3e-0000-4000-8000-000000000003", 9
    client = clean_redis

    def publish():
        broadcaster.flush()  # connected, nothing unread
        client.execute_command("CLIENT", "PAUSE", 800, "ALL")
        started = time.monotonic()
        for n in (1, 2, 3):
            broadcaster.publish(
                task_id=task_id, owner_id=owner_id, event={"type": "progress", "n": n}
            )
        returned_in = time.monotonic() - started
        broadcaster.flush()  # waits for Redis to run them
        return returned_in, time.monotonic() - started

    (returned_in, flushed_in), got = received_by_task_group(task_id, publish, count=3)

    assert returned_in < 0.3
    assert flushed_in >= 0.5  # the pause held them
    assert [(m["seq"], m["event"]["n"]) for m in got] == [(1, 1), (2, 2), (3, 3)]


@pytest.mark.django_db(transaction=True)
def test_a_connection_redis_closed_is_replaced_before_the_next_event(clean_redis, monkeypatch):
    task_id, owner_id = "5b1f7a3e-0000-4000-8000-000000000004", 10
    client = clean_redis
    monkeypatch.setattr(broadcast, "IDLE_CHECK_SECONDS", 0.0)  # every write checks first

    def publish():
        broadcaster.publish(task_id=task_id, owner_id=owner_id, event={"type": "a"})
        broadcaster.flush()
        (killed,) = event_connection_ids(client)
        client.client_kill_filter(_id=killed)
        broadcaster.publish(task_id=task_id, owner_id=owner_id, event={"type": "b"})
        broadcaster.flush()
        return killed, event_connection_ids(client)

    (killed, now), got = received_by_task_group(task_id, publish, count=2)

    assert [m["event"]["type"] for m in got] == ["a", "b"]
    assert len(now) == 1 and now != [killed]


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_redis_drops_events_for_a_pause_and_never_raises(
    clean_redis, settings, monkeypatch, caplog
):
    """Events are best effort (the row holds the truth): with Redis unreachable a task is not
    held up by a connection attempt per event, and sending resumes after the pause."""
    layer = settings.CHANNEL_LAYERS["default"]
    unreachable = {**layer, "CONFIG": {**layer["CONFIG"], "hosts": ["redis://127.0.0.1:1/0"]}}
    monkeypatch.setattr(broadcast, "SEND_RETRY_PAUSE_SECONDS", 0.5)
    sender = Broadcaster()
    task_id = "5b1f7a3e-0000-4000-8000-000000000005"
    attempts = []
    real_connection = sender._connection

    def counted_connection():
        attempts.append(1)
        return real_connection()

    monkeypatch.setattr(sender, "_connection", counted_connection)
    settings.CHANNEL_LAYERS = {"default": unreachable}
    for n in range(50):
        sender.publish(task_id=task_id, owner_id=None, event={"type": "progress", "n": n})
    assert len(attempts) == 2  # one try and one on a fresh connection, then the pause
    assert "dropping events" in caplog.text

    time.sleep(0.6)
    settings.CHANNEL_LAYERS = {"default": layer}
    sender.publish(task_id=task_id, owner_id=None, event={"type": "progress", "n": 50})
    sender.flush()
    assert sender.current_seq(task_id) == 1
    sender.close()


@pytest.mark.django_db(transaction=True)
def test_a_process_forked_while_the_lock_is_held_still_publishes(clean_redis):
    """A worker's pool child can be forked while another thread of its parent is mid-write.

    A bare os.fork, as Celery's prefork pool does: multiprocessing would also run Celery's
    after-fork handlers, which close the parent's broker connections from the child."""
    task_id = "5b1f7a3e-0000-4000-8000-000000000007"
    with broadcaster._lock:
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                broadcaster.publish(task_id=task_id, owner_id=None, event={"type": "status"})
                broadcaster.flush()
                code = 0
            finally:
                os._exit(code)
    deadline = time.monotonic() + 10
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)

    assert done[0] == pid and os.waitstatus_to_exitcode(done[1]) == 0
    assert broadcaster.current_seq(task_id) == 1
