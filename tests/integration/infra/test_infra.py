"""The local Kafka broker and FerretDB started by `scripts/infra/infra.sh`, exercised with the real clients.

The session fixture starts both services through `agentinstruct.devinfra.up()` (installing them on first
use) and stops, at the end, only those it started. A failing install or start fails the tests.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

aiokafka = pytest.importorskip("aiokafka")
pymongo = pytest.importorskip("pymongo")

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: E402
from pymongo import ASCENDING, AsyncMongoClient  # noqa: E402
from pymongo.asynchronous.database import AsyncDatabase  # noqa: E402
from pymongo.errors import BulkWriteError  # noqa: E402

from agentinstruct import devinfra  # noqa: E402

INSTALL_AND_START_TIMEOUT_S = 900
CONSUME_TIMEOUT_S = 30.0

# The first test also pays for the session fixture, which may install Kafka and build FerretDB (minutes).
pytestmark = pytest.mark.timeout(INSTALL_AND_START_TIMEOUT_S + 120)


@pytest.fixture(scope="session")
def infra() -> Iterator[dict[str, str]]:
    before = devinfra.status()
    devinfra.up(timeout=INSTALL_AND_START_TIMEOUT_S)
    statuses = devinfra.status()
    assert all(s.running for s in statuses.values()), statuses
    yield devinfra.connection_env()
    started = [name for name in devinfra.SERVICES if not before[name].running]
    if started:
        devinfra.down(started)


@pytest.fixture
def bootstrap(infra: dict[str, str]) -> str:
    return infra["KAFKA_BOOTSTRAP_SERVERS"]


@pytest.fixture
async def topics(bootstrap: str) -> AsyncIterator[list[str]]:
    """Names appended here are deleted after the test, so repeated runs do not pile topics up."""
    names: list[str] = []
    yield names
    if names:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.delete_topics(names)
        finally:
            await admin.close()


@pytest.fixture
async def mongo_db(infra: dict[str, str]) -> AsyncIterator[AsyncDatabase[dict[str, object]]]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        infra["MONGODB_URI"], serverSelectionTimeoutMS=10_000
    )
    name = f"infra_test_{uuid.uuid4().hex[:8]}"
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def consume(consumer: AIOKafkaConsumer, count: int) -> list[ConsumerRecord[bytes, bytes]]:
    records: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + CONSUME_TIMEOUT_S
    while len(records) < count:
        assert time.monotonic() < deadline, f"got {len(records)} of {count} records"
        batches = await consumer.getmany(timeout_ms=500)
        for batch in batches.values():
            records.extend(batch)
    return records


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        # the controller answers before every broker's metadata has the new topic: wait for it
        deadline = time.monotonic() + 15.0
        while True:
            described = await admin.describe_topics([name])
            if len(described[0]["partitions"]) == partitions or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert len(described[0]["partitions"]) == partitions
    finally:
        await admin.close()


def test_status_and_env(infra: dict[str, str]) -> None:
    kafka_address = f"127.0.0.1:{os.environ.get('KAFKA_PORT', '19092')}"
    mongo_address = f"127.0.0.1:{os.environ.get('MONGO_PORT', '27018')}"
    statuses = devinfra.status()
    assert statuses["kafka"].running and statuses["kafka"].address == kafka_address
    assert statuses["ferretdb"].running and statuses["ferretdb"].address == mongo_address
    assert infra == {"KAFKA_BOOTSTRAP_SERVERS": kafka_address, "MONGODB_URI": f"mongodb://{mongo_address}/"}
    pids = {name: s.detail for name, s in statuses.items()}
    devinfra.up()  # already running: a no-op
    assert {name: s.detail for name, s in devinfra.status().items()} == pids


async def test_kafka_idempotent_produce_consume_and_manual_commit(bootstrap: str, topics: list[str]) -> None:
    topic = unique("infra-eight")
    topics.append(topic)
    await create_topic(bootstrap, topic, partitions=8)

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for i in range(40):
            await producer.send(topic, value=f"m{i}".encode(), key=f"k{i}".encode())
        await producer.flush()
        meta = await producer.send_and_wait(topic, value=b"pinned", key=b"pinned", partition=5)
        assert meta.partition == 5
        assert await producer.partitions_for(topic) == set(range(8))
    finally:
        await producer.stop()

    group = unique("infra-group")
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        records = await consume(consumer, 41)
        assert sorted(r.value for r in records if r.value) == sorted(
            [f"m{i}".encode() for i in range(40)] + [b"pinned"]
        )
        assert len({r.partition for r in records}) > 1, "keys should spread over several partitions"
        pinned = next(r for r in records if r.value == b"pinned")
        tp = TopicPartition(topic, pinned.partition)
        await consumer.commit({tp: pinned.offset + 1})
        assert await consumer.committed(tp) == pinned.offset + 1
        other = TopicPartition(topic, next(p for p in range(8) if p != pinned.partition))
        assert await consumer.committed(other) is None
    finally:
        await consumer.stop()


async def test_kafka_auto_created_topic_has_four_partitions(bootstrap: str, topics: list[str]) -> None:
    topic = unique("infra-auto")
    topics.append(topic)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello")
        assert await producer.partitions_for(topic) == set(range(4))
    finally:
        await producer.stop()


async def test_ferretdb_unique_index_upsert_and_aggregate(
    mongo_db: AsyncDatabase[dict[str, object]],
) -> None:
    coll = mongo_db["pairs"]
    await coll.create_index([("pair_key", ASCENDING)], unique=True, name="pair_key_unique")
    indexes = await coll.index_information()
    assert indexes["pair_key_unique"].get("unique") is True

    docs: list[dict[str, object]] = [
        {"pair_key": "a", "stage": "suggest", "tokens": 10},
        {"pair_key": "b", "stage": "suggest", "tokens": 20},
        {"pair_key": "a", "stage": "suggest", "tokens": 99},  # duplicate
        {"pair_key": "c", "stage": "teacher", "tokens": 5},
        {"pair_key": "b", "stage": "teacher", "tokens": 99},  # duplicate
    ]
    with pytest.raises(BulkWriteError) as info:
        await coll.insert_many(docs, ordered=False)
    details = info.value.details
    assert details["nInserted"] == 3
    assert sorted(e["index"] for e in details["writeErrors"]) == [2, 4]
    assert {e["code"] for e in details["writeErrors"]} == {11000}
    assert await coll.count_documents({}) == 3

    first = await coll.update_one(
        {"pair_key": "d"},
        {"$setOnInsert": {"created": 1, "stage": "teacher"}, "$set": {"tokens": 7}},
        upsert=True,
    )
    assert first.upserted_id is not None
    second = await coll.update_one(
        {"pair_key": "d"},
        {"$setOnInsert": {"created": 2, "stage": "teacher"}, "$set": {"tokens": 8}},
        upsert=True,
    )
    assert second.upserted_id is None and second.matched_count == 1
    stored = await coll.find_one({"pair_key": "d"}, {"_id": 0})
    assert stored == {"pair_key": "d", "created": 1, "stage": "teacher", "tokens": 8}

    cursor = await coll.aggregate(
        [
            {"$match": {"tokens": {"$gte": 5}}},
            {"$group": {"_id": "$stage", "n": {"$sum": 1}, "tokens": {"$sum": "$tokens"}}},
            {"$sort": {"_id": 1}},
        ]
    )
    assert await cursor.to_list(None) == [
        {"_id": "suggest", "n": 2, "tokens": 30},
        {"_id": "teacher", "n": 2, "tokens": 13},
    ]


def test_separate_state_dir_port_override_and_wipe(infra: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    env = {"AGENTINSTRUCT_STATE": str(tmp_path / "state"), "MONGO_PORT": str(port)}
    devinfra.up(["ferretdb"], env=env)
    try:
        status = devinfra.status(["ferretdb"], env=env)["ferretdb"]
        assert status.running and status.address == f"127.0.0.1:{port}"
        assert devinfra.connection_env(env=env)["MONGODB_URI"] == f"mongodb://127.0.0.1:{port}/"
        assert (tmp_path / "state" / "ferretdb" / "ferretdb.pid").is_file()
    finally:
        devinfra.down(["ferretdb"], wipe=True, env=env)
    assert not (tmp_path / "state" / "ferretdb").exists()
    assert not devinfra.status(["ferretdb"], env=env)["ferretdb"].running
    assert devinfra.status()["ferretdb"].running, "the shared instance must be untouched"


def test_port_taken_by_another_process_is_a_clear_error(infra: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = {"AGENTINSTRUCT_STATE": str(tmp_path / "state"), "MONGO_PORT": str(port)}
        with pytest.raises(devinfra.InfraError) as info:
            devinfra.up(["ferretdb"], env=env)
        assert f"port 127.0.0.1:{port} is already in use" in info.value.stderr
        assert devinfra.status(["ferretdb"], env=env)["ferretdb"].detail.startswith("foreign")


def test_unknown_service_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown service"):
        devinfra.up(["zookeeper"])  # type: ignore[list-item]


async def test_ferretdb_restart_keeps_data(infra: dict[str, str]) -> None:
    name = unique("infra_restart").replace("-", "_")
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(infra["MONGODB_URI"])
    try:
        await client[name]["c"].insert_one({"_id": "kept", "v": 1})
    finally:
        await client.close()

    await asyncio.to_thread(devinfra.down, ["ferretdb"])
    assert not devinfra.status()["ferretdb"].running
    await asyncio.to_thread(devinfra.up, ["ferretdb"])
    assert devinfra.status()["ferretdb"].running

    client = AsyncMongoClient(infra["MONGODB_URI"], serverSelectionTimeoutMS=10_000)
    try:
        assert await client[name]["c"].find_one({"_id": "kept"}) == {"_id": "kept", "v": 1}
        await client.drop_database(name)
    finally:
        await client.close()


async def test_kafka_restart_keeps_messages_and_committed_offsets(bootstrap: str, topics: list[str]) -> None:
    topic = unique("infra-restart")
    topics.append(topic)
    await create_topic(bootstrap, topic, partitions=1)
    tp = TopicPartition(topic, 0)

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for i in range(10):
            await producer.send(topic, f"r{i}".encode(), partition=0)
        await producer.flush()
    finally:
        await producer.stop()

    group = unique("infra-restart-group")
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        records = await consume(consumer, 10)
        assert [r.offset for r in records] == list(range(10))
        await consumer.commit({tp: records[3].offset + 1})
        assert await consumer.committed(tp) == 4
    finally:
        await consumer.stop()

    await asyncio.to_thread(devinfra.down, ["kafka"])
    assert not devinfra.status()["kafka"].running
    assert devinfra.status()["ferretdb"].running
    await asyncio.to_thread(devinfra.up, ["kafka"])
    assert devinfra.status()["kafka"].running

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        assert await consumer.committed(tp) == 4
        records = await consume(consumer, 6)
        assert [r.offset for r in records] == list(range(4, 10))
        assert [r.value for r in records] == [f"r{i}".encode() for i in range(4, 10)]
        assert (await consumer.end_offsets([tp]))[tp] == 10
    finally:
        await consumer.stop()
