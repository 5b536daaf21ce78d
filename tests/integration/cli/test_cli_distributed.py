"""The distributed-mode commands of `agentinstruct` as a user runs them, against the real Kafka and FerretDB.

`ingest` (folders twice, JSONL on stdin), the four services as `agentinstruct serve <stage>` processes against
the mock LLM server (its own process), `export` (JSONL and Parquet), `stats --json` and `dev status`. Everything
lives in a namespace of its own (topics `<ns>.*`, consumer groups `<ns>.<stage>`, database `<ns>`), set through
the environment as a user would, and is deleted at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from pymongo import MongoClient

from agentinstruct import devinfra
from agentinstruct.cli import Stage
from services.common.settings import STAGES, ServiceSettings
from tests.helpers.generate_checks import assert_pair_rows_well_formed
from tests.integration.services.pipeline_harness import (
    BASE_ENV,
    BOOTSTRAP,
    MONGODB_URI,
    MockLLM,
    delete_topics,
    free_port,
    group_lags,
    tail,
    wait_until,
    write_documents,
)

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[3]
DOCUMENTS = 5
STDIN_LINES = [
    {"id": "stdin-doc-1", "text": "Tides are caused mainly by the Moon's gravity. " * 12, "metadata": {"lang": "en"}},
    {"id": "stdin-doc-2", "text": "A sorted array allows binary search in logarithmic time. " * 12},
]
INFRA_TIMEOUT_S = 900


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("agentinstruct")
    return [str(script)] if script.exists() else [sys.executable, "-m", "agentinstruct.cli"]


@dataclass
class Deployment:
    """One namespace of topics, groups and database, the environment that selects it, and its services."""

    root: Path
    llm: MockLLM
    namespace: str = field(default_factory=lambda: f"cli{uuid.uuid4().hex[:10]}")
    services: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("TOPIC_", "KAFKA_", "MONGODB_", "OPENAI_"))}
        return {
            **base,
            **BASE_ENV,
            "PYTHONPATH": str(REPO),
            "KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
            "MONGODB_URI": MONGODB_URI,
            "MONGODB_DB": self.namespace,
            "TOPIC_NAMESPACE": self.namespace,
            "OPENAI_BASE_URL": self.llm.base_url,
            "COLUMNS": "160",
            **extra,
        }

    def run(
        self, *args: str, stdin: str | None = None, timeout: float = 120, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli_command(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(**env),
            cwd=self.root,
            timeout=timeout,
            check=False,
        )

    def run_json(self, *args: str, stdin: str | None = None) -> Any:
        done = self.run(*args, "--json", stdin=stdin)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    @property
    def settings(self) -> ServiceSettings:
        return ServiceSettings(topic_namespace=self.namespace, mongodb_db=self.namespace, http_port=0)

    def log(self, stage: str) -> Path:
        return self.root / f"{stage}.log"

    def serve(self) -> None:
        for stage in STAGES:
            self.ports[stage] = port = free_port()
            with self.log(stage).open("ab") as log:
                self.services[stage] = subprocess.Popen(
                    [*cli_command(), "serve", stage],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env(HTTP_PORT=str(port)),
                    cwd=self.root,
                )
        for stage in STAGES:
            wait_until(lambda stage=stage: self.healthy(stage), 90, f"{stage} healthy")  # type: ignore[misc]

    def healthy(self, stage: str) -> bool:
        import urllib.error
        import urllib.request

        proc = self.services[stage]
        if proc.poll() is not None:
            raise RuntimeError(f"{stage} exited with {proc.returncode}:\n{tail(self.log(stage))}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[stage]}/health", timeout=3) as response:
                return bool(json.load(response).get("status") == "ok")
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def stop(self) -> dict[str, int | None]:
        for proc in self.services.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for stage, proc in self.services.items():
            try:
                codes[stage] = proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[stage] = proc.wait()
        return codes

    def db(self) -> Any:
        client: MongoClient[dict[str, Any]] = MongoClient(MONGODB_URI, serverSelectionTimeoutMS=10_000)
        return client, client[self.namespace]

    def cleanup(self) -> None:
        self.stop()
        groups = [self.settings.group_id(stage) for stage in STAGES]
        with contextlib.suppress(Exception):
            asyncio.run(delete_topics(self.settings.all_topics(), groups))
        client, _db = self.db()
        with client:
            client.drop_database(self.namespace)


@pytest.fixture(scope="module")
def infra() -> Iterator[None]:
    before = devinfra.status()
    devinfra.up(timeout=INFRA_TIMEOUT_S)
    yield
    started = [name for name in devinfra.SERVICES if not before[name].running]
    if started:
        devinfra.down(started)


@pytest.fixture(scope="module")
def deployment(infra: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("cli")
    llm = MockLLM(root, "--latency-median-ms", "10", "--latency-dist", "uniform").start()
    deployment = Deployment(root, llm)
    try:
        yield deployment
    finally:
        deployment.cleanup()
        llm.stop()


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_documents(tmp_path_factory.mktemp("documents"), DOCUMENTS)


@pytest.fixture(scope="module")
def produced(deployment: Deployment, documents: list[Path]) -> dict[str, Any]:
    """Documents ingested (files and stdin), the four services run to completion and stopped with SIGTERM."""
    files = deployment.run_json("ingest", str(documents[0].parent))
    stdin = deployment.run_json("ingest", "-", stdin="\n".join(json.dumps(line) for line in STDIN_LINES) + "\n")
    started = time.monotonic()
    deployment.serve()
    client, db = deployment.db()
    with client:

        def done() -> bool:
            lags = asyncio.run(group_lags(deployment.settings))
            return all(lag == 0 for lag in lags.values()) and db["pairs"].count_documents({}) > 0

        wait_until(done, 150, "every group at zero lag and pairs stored", interval=1.0)
        pair_ids = {str(doc["_id"]) for doc in db["pairs"].find({}, {"_id": 1})}
        rejected = db["rejected"].count_documents({})
    seconds = time.monotonic() - started
    codes = deployment.stop()
    return {
        "files": files,
        "stdin": stdin,
        "pair_ids": pair_ids,
        "rejected": rejected,
        "exit_codes": codes,
        "seconds": seconds,
    }


# -- ingest -------------------------------------------------------------------------------------------------------


def test_ingest_twice_second_is_a_noop(deployment: Deployment, documents: list[Path], produced: dict[str, Any]) -> None:
    first = produced["files"]
    assert first["documents"] == DOCUMENTS
    assert first["seeds"] >= DOCUMENTS and first["published"] == first["seeds"], first
    assert first["already_ingested"] == 0 and first["inputs_skipped"] == {}

    again = deployment.run("ingest", str(documents[0].parent), "--json")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["published"] == 0 and summary["already_ingested"] == first["seeds"], summary
    assert "already ingested" in again.stderr, "the summary table goes to stderr"
    figures = deployment.run_json("stats")
    assert figures["stages"]["transformer"]["input_records"] == first["seeds"] + len(STDIN_LINES)


def test_ingest_stdin_jsonl_with_a_bad_line(deployment: Deployment, produced: dict[str, Any]) -> None:
    assert produced["stdin"] == {
        "documents": 2,
        "seeds": 2,
        "published": 2,
        "already_ingested": 0,
        "duplicates_in_input": 0,
        "inputs_skipped": {},
    }
    lines = [json.dumps(line) for line in STDIN_LINES] + ['{"text": 42}', "not json"]
    again = deployment.run("ingest", "-", "--json", stdin="\n".join(lines) + "\n")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["published"] == 0 and summary["already_ingested"] == 2
    assert summary["inputs_skipped"] == {"invalid_jsonl": 2}
    assert "<stdin>:3" in again.stderr and "<stdin>:4" in again.stderr, "each skipped input is named"
    client, db = deployment.db()
    with client:
        registered = {doc["_id"] for doc in db["seeds"].find({"_id": {"$in": ["stdin-doc-1", "stdin-doc-2"]}})}
    assert registered == {"stdin-doc-1", "stdin-doc-2"}, "a JSONL id is the seed id"


# -- serve ---------------------------------------------------------------------------------------------------------


def test_serve_runs_the_four_stages_and_exits_cleanly(deployment: Deployment, produced: dict[str, Any]) -> None:
    print(f"pipeline finished in {produced['seconds']:.1f} s with {len(produced['pair_ids'])} pairs")
    assert produced["pair_ids"], "no pair was stored"
    assert produced["exit_codes"] == dict.fromkeys(STAGES, 0), "a service did not exit cleanly on SIGTERM"
    for stage in STAGES:
        assert f"{stage} stopped" in deployment.log(stage).read_text(encoding="utf-8", errors="replace")
    assert {stage.value for stage in Stage} == set(STAGES)


# -- export ---------------------------------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_export_jsonl_and_parquet(
    deployment: Deployment, documents: list[Path], produced: dict[str, Any], tmp_path: Path
) -> None:
    jsonl = tmp_path / "pairs.jsonl"
    done = deployment.run("export", "--format", "jsonl", "--out", str(jsonl))
    assert done.returncode == 0, done.stderr
    rows = read_jsonl(jsonl)
    assert {row["id"] for row in rows} == produced["pair_ids"]
    assert len(rows) == len(produced["pair_ids"])
    from_files = [row for row in rows if not row["lineage"]["source"]["uri"].startswith("<stdin>")]
    assert from_files
    assert_pair_rows_well_formed(from_files, [str(p) for p in documents])
    assert all(row["messages"][0] == {"role": "system", "content": ""} for row in rows)

    parquet = tmp_path / "pairs.parquet"
    done = deployment.run("export", "--format", "parquet", "--out", str(parquet), "--batch-rows", "3")
    assert done.returncode == 0, done.stderr
    file = pq.ParquetFile(parquet)
    assert file.metadata.num_row_groups == -(-len(rows) // 3), "written in batches"
    table = file.read()
    assert set(table.column("id").to_pylist()) == produced["pair_ids"]
    by_id = {row["id"]: row for row in rows}
    for record in table.to_pylist():
        messages = record["messages"]
        assert messages[0]["role"] == "system" and messages[0]["content"] == ""
        expected = by_id[record["id"]]
        assert [{k: v for k, v in m.items() if v is not None} for m in messages] == expected["messages"]
        assert record["lineage"] == expected["lineage"]
        assert json.loads(record["models"]) == expected["models"]
        assert json.loads(record["prompt_versions"]) == expected["prompt_versions"]
        assert {**record["usage"], "by_role": json.loads(record["usage"]["by_role"])} == expected["usage"]
        assert record["checks"] == [{"detail": "", "score": None, **check} for check in expected["checks"]]
        assert record["judge_score"] == expected["judge_score"]
        assert record["content_hash"] == expected["content_hash"]

    strings = tmp_path / "strings.parquet"
    skill = sorted({row["skill"] for row in rows})[0]
    done = deployment.run(
        "export", "-f", "parquet", "-o", str(strings), "--messages-format", "string", "--skills", skill
    )
    assert done.returncode == 0, done.stderr
    records = pq.read_table(strings).to_pylist()
    assert {r["id"] for r in records} == {row["id"] for row in rows if row["skill"] == skill}
    for record in records:
        assert isinstance(record["messages"], str)
        assert json.loads(record["messages"]) == by_id[record["id"]]["messages"]


# -- stats ----------------------------------------------------------------------------------------------------------


def test_stats_agree_with_the_export(deployment: Deployment, produced: dict[str, Any], tmp_path: Path) -> None:
    jsonl = tmp_path / "pairs.jsonl"
    assert deployment.run("export", "--format", "jsonl", "--out", str(jsonl)).returncode == 0
    rows = read_jsonl(jsonl)
    figures = deployment.run_json("stats", "--scan-topics")
    assert figures["pairs"]["total"] == len(rows)
    assert figures["pairs"]["by_skill"] == dict(Counter(row["skill"] for row in rows))
    assert figures["seeds_ingested"] == produced["files"]["seeds"] + len(STDIN_LINES)
    assert figures["rejections"]["total"] == produced["rejected"]
    assert sum(figures["rejections"]["by_reason"].values()) == produced["rejected"]
    assert set(figures["rejections"]["by_stage"]) <= {"validate"}
    assert figures["dead_letters"]["total"] == 0
    for stage in STAGES:
        assert figures["stages"][stage]["lag"] == 0, figures["stages"]
    assert figures["stages"]["validator"]["pairs_stored"] == len(rows)
    candidates = figures["stages"]["refiner"]["output_records"]
    assert candidates == figures["stages"]["validator"]["input_records"]
    assert candidates >= len(rows) + produced["rejected"], "each candidate became a pair or a rejection"
    scan = figures["scan"]
    assert scan["complete"]
    assert scan["rejections"]["by_stage"]["validator"] == produced["rejected"]
    assert scan["rejections"]["total"] == sum(scan["rejections"]["by_stage"].values())
    assert all(row["total"] == 0 for row in scan["dead_letters"]["by_stage"].values())

    table = deployment.run("stats")
    assert table.returncode == 0, table.stderr
    assert f"pairs: {len(rows)}" in table.stdout
    for skill in figures["pairs"]["by_skill"]:
        assert skill in table.stdout


# -- dev, errors ------------------------------------------------------------------------------------------------------


def test_dev_status_prints_addresses(deployment: Deployment, tmp_path: Path) -> None:
    up = deployment.run("dev", "status")
    assert up.returncode == 0, up.stderr
    assert "127.0.0.1:19092" in up.stdout and "127.0.0.1:27018" in up.stdout
    assert up.stdout.count(" up") == 2

    # Another state directory has no services started from it: every one is down, exit code 3.
    elsewhere = deployment.run("dev", "status", AGENTINSTRUCT_STATE=str(tmp_path / "state"))
    assert elsewhere.returncode == devinfra.STATUS_NOT_ALL_UP, elsewhere.stderr
    assert "kafka" in elsewhere.stdout and "ferretdb" in elsewhere.stdout
    assert "127.0.0.1:19092" in elsewhere.stdout and "127.0.0.1:27018" in elsewhere.stdout


def test_unreachable_services_are_one_line_errors(deployment: Deployment) -> None:
    port = free_port()
    secret = "s3cret-password"
    started = time.monotonic()
    done = deployment.run(
        "stats", MONGODB_URI=f"mongodb://user:{secret}@127.0.0.1:{port}/?authSource=admin", MONGODB_TIMEOUT_MS="500"
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: cannot reach MongoDB at 127.0.0.1:{port} (is `agentinstruct dev up` running?)"
    ]
    assert secret not in done.stderr + done.stdout

    kafka_port = free_port()
    done = deployment.run("ingest", "-", stdin="some text\n", KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{kafka_port}")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: cannot reach Kafka at 127.0.0.1:{kafka_port} (is `agentinstruct dev up` running?)"
    ]
    assert time.monotonic() - started < 60

    bad = deployment.run("stats", TOPIC_PARTITIONS="many")
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: invalid configuration: TOPIC_PARTITIONS")
