"""WebSocket consumers: authentication, foreign tasks, snapshots, ordered events, resync."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from knox.models import AuthToken

from config.asgi import application
from tasks_app import lifecycle, services
from tasks_app.broadcast import broadcaster
from tasks_app.models import Task, TaskStatus
from tasks_app.relay import relay

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost")


def running_task(owner) -> Task:
    """A claimed task whose "queued" (seq 1) and "running" (seq 2) events are already out."""
    task = services.task_submit(owner=owner, task_type="test.spin", params={"key": "ws"}).task
    assert relay.flush()
    assert Task.objects.get(pk=task.pk).status == TaskStatus.QUEUED
    claimed = lifecycle.claim(task.id)
    broadcaster.flush()
    return claimed


def token_header(user) -> tuple[bytes, bytes]:
    _, token = AuthToken.objects.create(user)
    return (b"authorization", f"Bearer {token}".encode())


def session_headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return [(b"cookie", cookie), ORIGIN]


async def connect(path: str, headers) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def closed_with(communicator: WebsocketCommunicator) -> int:
    message = await communicator.receive_output(timeout=3)
    assert message["type"] == "websocket.close", message
    return message["code"]


def test_no_credentials_closes_with_4401(user, clean_redis):
    task = running_task(user)

    async def scenario():
        comm = await connect(f"/ws/tasks/{task.id}/", [ORIGIN])
        return await closed_with(comm)

    assert asyncio.run(scenario()) == 4401


def test_a_foreign_task_closes_with_4404_and_sends_no_frame(user, other_user, clean_redis):
    task = running_task(user)
    headers = [token_header(other_user)]

    async def scenario():
        comm = await connect(f"/ws/tasks/{task.id}/", headers)
        return await closed_with(comm)

    assert asyncio.run(scenario()) == 4404


def test_a_foreign_origin_is_refused_even_with_a_session(user, clean_redis):
    task = running_task(user)
    headers = [h for h in session_headers(user) if h[0] != b"origin"] + [
        (b"origin", b"https://evil.example")
    ]

    async def scenario():
        comm = await connect(f"/ws/tasks/{task.id}/", headers)
        return await closed_with(comm)

    assert asyncio.run(scenario()) == 4403


def test_snapshot_then_events_in_order_with_seq(user, clean_redis):
    task = running_task(user)
    headers = session_headers(user)

    async def scenario():
        comm = await connect(f"/ws/tasks/{task.id}/", headers)
        snapshot = await comm.receive_json_from(timeout=3)
        await asyncio.sleep(0.2)
        for p in (10, 20, 30):
            await database_sync_to_async(broadcaster.send)(
                task_id=task.id,
                owner_id=user.pk,
                event={"type": "progress", "task_id": str(task.id), "progress": p},
            )
        events = [await comm.receive_json_from(timeout=3) for _ in range(3)]
        await comm.disconnect()
        return snapshot, events

    snapshot, events = asyncio.run(scenario())

    assert snapshot["type"] == "snapshot"
    # seq 1 announced "queued", seq 2 "running" (the claim); the three events follow.
    assert (snapshot["status"], snapshot["seq"], snapshot["attempt"]) == ("running", 2, 1)
    assert [(e["progress"], e["seq"]) for e in events] == [(10, 3), (20, 4), (30, 5)]


def test_resync_sends_a_fresh_snapshot_after_missed_events(user, clean_redis):
    task = running_task(user)
    headers = [token_header(user)]

    async def scenario():
        comm = await connect(f"/ws/tasks/{task.id}/", headers)
        await comm.receive_json_from(timeout=3)
        # The task finishes while the client is not listening to its group any more.
        await comm.disconnect()
        await database_sync_to_async(lifecycle.finish_succeeded)(
            task.id, attempt=1, result={"ok": True}, progress_fields={}
        )
        comm = await connect(f"/ws/tasks/{task.id}/", headers)
        first = await comm.receive_json_from(timeout=3)
        await comm.send_json_to({"type": "resync", "last_seq": 1})
        second = await comm.receive_json_from(timeout=3)
        await comm.disconnect()
        return first, second

    first, second = asyncio.run(scenario())

    assert first["status"] == second["status"] == "succeeded"
    assert first["result"] == {"ok": True}
    assert second["seq"] == first["seq"] >= 2


def test_list_stream_shows_only_the_callers_tasks(user, other_user, clean_redis):
    mine = running_task(user)
    running_task(other_user)
    headers = [token_header(user)]

    async def scenario():
        comm = await connect("/ws/tasks/", headers)
        snapshot = await comm.receive_json_from(timeout=3)
        await comm.disconnect()
        return snapshot

    snapshot = asyncio.run(scenario())
    assert [t["task_id"] for t in snapshot["tasks"]] == [str(mine.id)]


def test_a_revoked_token_stops_the_stream(user, clean_redis, settings):
    settings.CASEWORK_WS_HEARTBEAT_SECONDS = 0.2
    task = running_task(user)
    instance, token = AuthToken.objects.create(user)
    headers = [(b"authorization", f"Bearer {token}".encode())]

    async def scenario():
        comm = await connect(f"/ws/tasks/{task.id}/", headers)
        await comm.receive_json_from(timeout=3)
        beat = await comm.receive_json_from(timeout=3)
        await database_sync_to_async(instance.delete)()
        while True:
            message = await comm.receive_output(timeout=3)
            if message["type"] == "websocket.close":
                return beat, message["code"]

    beat, code = asyncio.run(scenario())
    assert beat == {"type": "heartbeat"}
    assert code == 4401


def test_an_expired_token_is_refused_with_4401(user, clean_redis):
    from datetime import timedelta

    from django.utils import timezone

    task = running_task(user)
    instance, token = AuthToken.objects.create(user, expiry=timedelta(hours=1))
    AuthToken.objects.filter(pk=instance.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    headers = [(b"authorization", f"Bearer {token}".encode())]

    async def scenario():
        comm = await connect(f"/ws/tasks/{task.id}/", headers)
        return await closed_with(comm)

    assert asyncio.run(scenario()) == 4401


def test_a_malformed_bearer_token_is_refused_with_4401(user, clean_redis):
    task = running_task(user)

    async def scenario():
        comm = await connect(f"/ws/tasks/{task.id}/", [(b"authorization", b"Bearer \xff\x00")])
        return await closed_with(comm)

    assert asyncio.run(scenario()) == 4401


def test_an_event_is_encoded_once_for_every_watcher_of_its_task():
    import json

    from tasks_app.fanout import encoded_event

    event = {"type": "progress", "task_id": "t-encode-once", "progress": 40}
    first = encoded_event({"event": event, "seq": 7})
    again = encoded_event({"event": dict(event), "seq": 7})

    assert json.loads(first) == {**event, "seq": 7}
    assert again is first


def test_a_restarted_sequence_never_gets_an_earlier_events_text():
    import json

    from tasks_app.fanout import encoded_event

    before = {"type": "progress", "task_id": "t-restarted", "progress": 10}
    after = {"type": "progress", "task_id": "t-restarted", "progress": 90}
    encoded_event({"event": before, "seq": 1})

    assert json.loads(encoded_event({"event": after, "seq": 1}))["progress"] == 90
    assert json.loads(encoded_event({"event": before, "seq": None})) == {**before, "seq": None}


def test_daphne_sends_frames_without_colouring_autobahns_debug_lines():
    import autobahn.util

    # Set by config.asgi (imported above): autobahn's per-frame debug arguments stay plain
    # text, with no click.style call. An autobahn that colours some other way fails here.
    assert autobahn.util._HAS_CLICK is False
    assert autobahn.util.hltype(autobahn.util.hltype) == "<autobahn.util.hltype>"
