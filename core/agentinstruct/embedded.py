"""Embedded mode: every stage in one process, documents in, a JSONL file of pairs out.

The run streams: seeds are read lazily and at most `seeds_in_flight` are processed at a time, so memory does
not grow with the input. LLM concurrency is bounded by the LLM layer's budget, shared by all stages.

Resume: the LLM response cache (SQLite, next to the output) answers every call that finished before an
interruption, so rerunning the same command pays only for calls that were in flight. Rows already in the
output files are not written again, and seeds recorded as done are skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from agentinstruct.ingest import IngestStats, Skipped, ingest
from agentinstruct.output import MessagesFormat, pair_to_row, rejection_to_row
from agentinstruct.skills import Skill, resolve_skills
from agentinstruct.skills.base import FlowConfig, StageContext, ToolsPort
from agentinstruct.stages import (
    MemoryDedup,
    refine_and_answer,
    suggest_instructions,
    transform_seed,
    validate_candidate,
)
from agentinstruct.tools.search import INDEX_SAMPLE_SEEDS
from agentinstruct_schemas import Candidate, Instruction, Pair, Rejection, Seed, Transformed, Usage

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RunOptions:
    paths: Sequence[str]
    out: Path
    skills: Sequence[str] = ()
    limit: int | None = None
    flow: FlowConfig = field(default_factory=FlowConfig)
    seeds_in_flight: int = 16
    fresh: bool = False
    messages_format: MessagesFormat = "list"
    max_chunk_chars: int = 6000
    search_index_max_seeds: int = INDEX_SAMPLE_SEEDS

    @property
    def rejected_path(self) -> Path:
        return self.out.with_name(self.out.stem + ".rejected.jsonl")

    @property
    def state_dir(self) -> Path:
        return self.out.with_name(self.out.name + ".state")


@dataclass(slots=True)
class RunStats:
    seeds_total: int = 0
    seeds_done: int = 0
    seeds_skipped_done: int = 0
    transformed: int = 0
    instructions: int = 0
    candidates: int = 0
    pairs_by_skill: Counter[str] = field(default_factory=Counter)
    rejections_by_reason: Counter[str] = field(default_factory=Counter)
    inputs_skipped: Counter[str] = field(default_factory=Counter)
    usage: Usage = field(default_factory=Usage)
    started: float = field(default_factory=time.monotonic)

    @property
    def pairs(self) -> int:
        return sum(self.pairs_by_skill.values())

    @property
    def rejections(self) -> int:
        return sum(self.rejections_by_reason.values())

    @property
    def wall_s(self) -> float:
        return time.monotonic() - self.started


class _Outputs:
    """Append-only JSONL writers that survive a crash: a torn last line is cut off on resume."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        options.out.parent.mkdir(parents=True, exist_ok=True)
        options.state_dir.mkdir(parents=True, exist_ok=True)
        if options.fresh:
            for path in (options.out, options.rejected_path, self._done_path):
                path.unlink(missing_ok=True)
        self.pair_ids, self.pair_hashes = self._load_ids(options.out, "content_hash")
        self.rejection_ids, _ = self._load_ids(options.rejected_path, None)
        self.done_seeds = self._load_done()
        self._pairs = options.out.open("a", encoding="utf-8")
        self._rejected = options.rejected_path.open("a", encoding="utf-8")
        self._done = self._done_path.open("a", encoding="utf-8")

    @property
    def _done_path(self) -> Path:
        return self.options.state_dir / "done_seeds.txt"

    @staticmethod
    def _load_ids(path: Path, hash_field: str | None) -> tuple[set[str], dict[str, str]]:
        ids: set[str] = set()
        hashes: dict[str, str] = {}
        if not path.exists():
            return ids, hashes
        _truncate_torn_line(path)
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                ids.add(row["id"])
                if hash_field and row.get(hash_field):
                    hashes[row[hash_field]] = row["id"]
        return ids, hashes

    def _load_done(self) -> set[str]:
        if not self._done_path.exists():
            return set()
        _truncate_torn_line(self._done_path)
        return set(self._done_path.read_text(encoding="utf-8").split())

    def write_pair(self, pair: Pair) -> bool:
        if pair.id in self.pair_ids:
            return False
        self.pair_ids.add(pair.id)
        _write_line(self._pairs, pair_to_row(pair, self.options.messages_format))
        return True

    def write_rejection(self, rejection: Rejection) -> bool:
        if rejection.id in self.rejection_ids:
            return False
        self.rejection_ids.add(rejection.id)
        _write_line(self._rejected, rejection_to_row(rejection))
        return True

    def mark_done(self, seed_id: str) -> None:
        self.done_seeds.add(seed_id)
        self._done.write(seed_id + "\n")
        self._done.flush()

    def close(self) -> None:
        for fh in (self._pairs, self._rejected, self._done):
            fh.close()


def _write_line(fh: TextIO, row: dict[str, Any]) -> None:
    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    fh.flush()


def _truncate_torn_line(path: Path) -> None:
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with path.open("r+b") as fh:
            fh.truncate(cut)


class Pipeline:
    """Chains the four stages for one seed; shared by the embedded runner and the benchmarks."""

    def __init__(
        self,
        skills: Sequence[Skill],
        ctx: StageContext,
        *,
        dedup: MemoryDedup | None = None,
        on_pair: Callable[[Pair], object] = lambda _p: None,
        on_rejection: Callable[[Rejection], object] = lambda _r: None,
        stats: RunStats | None = None,
    ) -> None:
        self.skills = list(skills)
        self.by_name = {skill.name: skill for skill in self.skills}
        self.ctx = ctx
        self.dedup = dedup or MemoryDedup()
        self.on_pair = on_pair
        self.on_rejection = on_rejection
        self.stats = stats or RunStats()

    async def run_seed(self, seed: Seed) -> None:
        result = await transform_seed(seed, self.skills, self.ctx)
        self._rejected(result.rejections)
        self.stats.transformed += len(result.outputs)
        await asyncio.gather(*(self._suggest(item) for item in result.outputs))

    async def _suggest(self, item: Transformed) -> None:
        skill = self.by_name[item.lineage.skill]
        result = await suggest_instructions(item, skill, self.ctx)
        self._rejected(result.rejections)
        self.stats.instructions += len(result.outputs)
        await asyncio.gather(*(self._refine(instruction) for instruction in result.outputs))

    async def _refine(self, instruction: Instruction) -> None:
        skill = self.by_name[instruction.lineage.skill]
        result = await refine_and_answer(instruction, skill, self.ctx)
        self._rejected(result.rejections)
        self.stats.candidates += len(result.outputs)
        await asyncio.gather(*(self._validate(candidate) for candidate in result.outputs))

    async def _validate(self, candidate: Candidate) -> None:
        skill = self.by_name[candidate.lineage.skill]
        outcome = await validate_candidate(candidate, skill, self.ctx, self.dedup)
        if isinstance(outcome, Pair):
            self.stats.pairs_by_skill[outcome.skill] += 1
            self.stats.usage = self.stats.usage.plus(outcome.lineage.usage)
            self.on_pair(outcome)
        else:
            self._rejected([outcome])

    def _rejected(self, rejections: Iterable[Rejection]) -> None:
        for rejection in rejections:
            self.stats.rejections_by_reason[rejection.reason] += 1
            self.on_rejection(rejection)


def iter_seeds(options: RunOptions, stats: RunStats, on_skip: Callable[[Skipped], None]) -> Iterator[Seed]:
    """Seeds of the input, in a stable order, at most `limit` of them; skipped inputs are reported."""
    ingest_stats = IngestStats()
    count = 0
    for event in ingest(options.paths, max_chars=options.max_chunk_chars, stats=ingest_stats):
        if isinstance(event, Skipped):
            stats.inputs_skipped[event.reason.split(" (")[0]] += 1
            on_skip(event)
            continue
        if options.limit is not None and count >= options.limit:
            return
        count += 1
        yield event


async def run_pipeline(
    options: RunOptions,
    ctx: StageContext,
    *,
    progress: Callable[[RunStats], None] = lambda _s: None,
    on_skip: Callable[[Skipped], None] = lambda _s: None,
) -> RunStats:
    """Process every seed of `options.paths` and write pairs and rejections; returns the run's figures."""
    skills = resolve_skills(options.skills)
    stats = RunStats()
    stats.seeds_total = sum(1 for _ in iter_seeds(options, RunStats(), lambda _s: None))
    progress(stats)
    outputs = _Outputs(options)
    dedup = MemoryDedup()
    for digest, pair_id in outputs.pair_hashes.items():
        await dedup.claim(digest, pair_id)
    pipeline = Pipeline(
        skills,
        ctx,
        dedup=dedup,
        on_pair=outputs.write_pair,
        on_rejection=outputs.write_rejection,
        stats=stats,
    )
    slots = asyncio.Semaphore(max(1, options.seeds_in_flight))
    tasks: set[asyncio.Task[None]] = set()

    async def one(seed: Seed) -> None:
        try:
            await pipeline.run_seed(seed)
            outputs.mark_done(seed.id)
        except Exception:
            log.exception("seed %s failed with an unexpected error; it is not marked done", seed.id)
            stats.rejections_by_reason["internal.error"] += 1
        finally:
            stats.seeds_done += 1
            slots.release()
            progress(stats)

    try:
        for seed in iter_seeds(options, stats, on_skip):
            if seed.id in outputs.done_seeds:
                stats.seeds_skipped_done += 1
                stats.seeds_done += 1
                progress(stats)
                continue
            await slots.acquire()
            task = asyncio.create_task(one(seed))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        while tasks:
            await asyncio.gather(*list(tasks))
    finally:
        for task in tasks:
            task.cancel()
        outputs.close()
    return stats


def build_search_index(options: RunOptions) -> ToolsPort | None:
    """The agents' tools, with a search index over the seed corpus (code seeds by their code units).

    The index is held in memory, so a corpus larger than `search_index_max_seeds` is indexed by a uniform
    sample of that many seeds (reservoir sampling, seeded: the same input gives the same sample): memory stays
    bounded however many seeds are queued.
    """
    from agentinstruct.tools.search import SearchIndex, extract_code_units
    from agentinstruct.tools.toolbox import Toolbox

    cap = max(1, options.search_index_max_seeds)
    sample: list[Seed] = []
    rng = random.Random(0)
    for position, seed in enumerate(iter_seeds(options, RunStats(), lambda _s: None)):
        if position < cap:
            sample.append(seed)
        else:
            slot = rng.randrange(position + 1)
            if slot < cap:
                sample[slot] = seed
    if len(sample) == cap:
        log.info("search index: a sample of %d seeds of the corpus", cap)
    index = SearchIndex()
    for seed in sample:
        if seed.source.kind == "code":
            for name, code in extract_code_units(seed.text, seed.source.language):
                index.add(f"{seed.id}:{name}", code, {"seed_id": seed.id, "name": name, "uri": seed.source.uri})
        else:
            index.add(seed.id, seed.text, {"seed_id": seed.id, "uri": seed.source.uri})
    tools: ToolsPort = Toolbox(index)
    return tools


def cpu_count() -> int:
    return os.cpu_count() or 1
