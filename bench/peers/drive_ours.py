"""Our engine: `OpenAILLM.generate` (pydantic schema, `json_schema` response format) with C workers.

The LLM budget is C; the limiter is adaptive unless `--no-adaptive`. `--cache sqlite` (the CLI's resumable
configuration, the default), `memory` or `none`. Workloads: `single` and `chain` as in `_protocol`, plus
`pipeline`: the real embedded `Pipeline` (skill `--skill`, 2 refinement rounds) over N generated documents,
seeds in flight = C; `first_pair_s` is the first accepted pair, `rows` the pairs.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _protocol as p  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from agentinstruct.llm import LLMSettings, MemoryCache, OpenAILLM, ResponseCache, Role, SQLiteCache  # noqa: E402


class Summary(BaseModel):
    summary: str


class Text(BaseModel):
    text: str


# the chain's steps as the engine's roles (each role's calls wait for admission by the step's place in the flow)
CHAIN_ROLES = {
    "transform": Role.TRANSFORM,
    "suggest": Role.SUGGEST,
    "refine": Role.EDIT,
    "answer": Role.TEACHER,
    "judge": Role.JUDGE,
}


def make_llm(args: object, *, short_answers: bool = True) -> OpenAILLM:
    """The engine as configured by the CLI; `short_answers` caps max_tokens as the peers' drivers do (not for the
    real pipeline, whose prompts want long answers)."""
    a = args
    settings = LLMSettings(
        base_url=a.base_url,
        default_model=p.MODEL,
        concurrency=a.concurrency,
        adaptive=a.adaptive,  # type: ignore[attr-defined]
        max_attempts=a.max_retries + 1,
        timeout_s=a.timeout_s,  # type: ignore[attr-defined]
        **({"max_tokens": dict.fromkeys(Role, p.MAX_TOKENS)} if short_answers else {}),
    )
    cache: ResponseCache | None = None
    if a.cache == "sqlite":  # type: ignore[attr-defined]
        cache = SQLiteCache(Path(a.work_dir) / "llm-cache.sqlite")  # type: ignore[attr-defined]
    elif a.cache == "memory":  # type: ignore[attr-defined]
        cache = MemoryCache()
    return OpenAILLM(settings, cache=cache)


async def run_calls(args: object, meter: p.Meter) -> dict[str, object]:
    a = args
    llm = make_llm(a)
    rows: list[dict[str, object]] = []
    failed = 0
    first_pair: list[float] = []
    loop = asyncio.get_running_loop()

    async def one(i: int) -> None:
        nonlocal failed
        try:
            if a.workload == "single":  # type: ignore[attr-defined]
                result = await llm.generate(
                    Role.TRANSFORM,
                    [{"role": "user", "content": p.single_prompt(i)}],
                    Summary,
                    prompt="bench/summarise@1",
                )
                rows.append({"i": i, "summary": result.parsed.summary})
            else:
                previous = ""
                for step in range(len(p.CHAIN_STEPS)):
                    answer = await llm.generate(
                        CHAIN_ROLES[p.CHAIN_STEPS[step]],
                        [{"role": "user", "content": p.chain_prompt(step, i, previous)}],
                        Text,
                        prompt=f"bench/{p.CHAIN_STEPS[step]}@1",
                    )
                    previous = answer.parsed.text
                if not first_pair:
                    first_pair.append(loop.time())
                rows.append({"i": i, "judge": previous})
        except Exception:
            failed += 1

    items = iter(range(a.n))  # type: ignore[attr-defined]

    async def worker() -> None:
        for i in items:
            await one(i)

    meter.start()
    t0 = loop.time()
    await asyncio.gather(*(worker() for _ in range(a.concurrency)))  # type: ignore[attr-defined]
    snapshot = llm.snapshot()
    result = meter.stop(
        rows=len(rows),
        failed=failed,
        first_pair_s=(first_pair[0] - t0) if first_pair else None,
        requests=snapshot.requests,
        limiter=next(iter(snapshot.limiters.values()), {}),
    )
    await llm.aclose()
    p.write_rows(a.out, rows)  # type: ignore[attr-defined]
    return result


async def run_pipeline(args: object, meter: p.Meter) -> dict[str, object]:
    from _common import write_documents

    from agentinstruct.embedded import Pipeline, RunOptions, RunStats, iter_seeds
    from agentinstruct.output import pair_to_row
    from agentinstruct.skills import resolve_skills
    from agentinstruct.skills.base import FlowConfig, StageContext

    a = args
    docs = Path(a.work_dir) / "docs"  # type: ignore[attr-defined]
    write_documents(docs, a.n)  # type: ignore[attr-defined]
    llm = make_llm(a, short_answers=False)
    flow = FlowConfig(
        refine_rounds=2,
        suggestions_per_round=1,
        reflection_rounds=0,
        max_instruction_types=1,
        max_instructions_per_type=1,
    )
    stats = RunStats()
    rows: list[dict[str, object]] = []
    first_pair: list[float] = []
    loop = asyncio.get_running_loop()

    def on_pair(pair: object) -> None:
        if not first_pair:
            first_pair.append(loop.time())
        rows.append(pair_to_row(pair))  # type: ignore[arg-type]

    pipeline = Pipeline(
        resolve_skills([a.skill]),
        StageContext(llm=llm, config=flow),
        on_pair=on_pair,  # type: ignore[attr-defined]
        stats=stats,
    )
    options = RunOptions(paths=[str(docs)], out=docs / "unused.jsonl")
    slots = asyncio.Semaphore(a.concurrency)  # type: ignore[attr-defined]
    tasks: set[asyncio.Task[None]] = set()

    async def one(seed: object) -> None:
        try:
            await pipeline.run_seed(seed)  # type: ignore[arg-type]
        finally:
            slots.release()

    meter.start()
    t0 = loop.time()
    for seed in iter_seeds(options, stats, lambda _s: None):
        await slots.acquire()
        task = asyncio.create_task(one(seed))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*list(tasks))
    snapshot = llm.snapshot()
    first = (first_pair[0] - t0) if first_pair else None
    result = meter.stop(
        rows=len(rows),
        failed=stats.rejections,
        first_pair_s=first,
        requests=snapshot.requests,
        llm_calls=snapshot.usage.calls,
        limiter=next(iter(snapshot.limiters.values()), {}),
    )
    await llm.aclose()
    p.write_rows(a.out, rows)  # type: ignore[attr-defined]
    return result


async def main() -> None:
    extra = {
        "--adaptive": {"action": "store_true", "default": True},
        "--no-adaptive": {"dest": "adaptive", "action": "store_false"},
        "--cache": {"choices": ("sqlite", "memory", "none"), "default": "sqlite"},
        "--skill": {"default": "text_modification"},
        "--pipeline": {"action": "store_true", "help": "run the real embedded pipeline instead of --workload"},
    }
    args = p.parse_args(extra=extra)
    meter = p.Meter()
    result = await (run_pipeline(args, meter) if args.pipeline else run_calls(args, meter))
    p.emit(result)


if __name__ == "__main__":
    asyncio.run(main())
