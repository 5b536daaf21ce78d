"""Baseline: the bare `openai.AsyncOpenAI` client with C workers (a semaphore of C), SDK retries.

`single`: a `json_schema` response format (the `Summary` schema) and a pydantic validation of the answer,
the same request and the same work as our engine's driver. `chain`: plain text, 6 dependent calls per seed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _protocol as p
import openai
from pydantic import BaseModel


class Summary(BaseModel):
    summary: str


async def main() -> None:
    args = p.parse_args()
    client = openai.AsyncOpenAI(
        base_url=args.base_url, api_key="bench", max_retries=args.max_retries, timeout=args.timeout_s
    )
    fmt = {"type": "json_schema", "json_schema": {"name": "Summary", "schema": p.summary_schema(), "strict": True}}
    rows: list[dict[str, object]] = []
    failed = 0
    first_pair: list[float] = []
    meter = p.Meter()

    async def call(content: str, structured: bool) -> str:
        response = await client.chat.completions.create(
            model=p.MODEL,
            messages=[{"role": "user", "content": content}],
            max_tokens=p.MAX_TOKENS,
            temperature=0.7,
            **({"response_format": fmt} if structured else {}),  # type: ignore[arg-type]
        )
        return response.choices[0].message.content or ""

    async def one(i: int) -> None:
        nonlocal failed
        try:
            if args.workload == "single":
                text = await call(p.single_prompt(i), True)
                rows.append({"i": i, "summary": Summary.model_validate_json(text).summary})
            else:
                previous = ""
                for step in range(len(p.CHAIN_STEPS)):
                    previous = await call(p.chain_prompt(step, i, previous), False)
                if not first_pair:
                    first_pair.append(asyncio.get_running_loop().time())
                rows.append({"i": i, "judge": previous})
        except Exception:
            failed += 1

    items = iter(range(args.n))

    async def worker() -> None:
        for i in items:
            await one(i)

    meter.start()
    t0 = asyncio.get_running_loop().time()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    result = meter.stop(rows=len(rows), failed=failed, first_pair_s=(first_pair[0] - t0) if first_pair else None)
    await client.close()
    p.write_rows(args.out, rows)
    p.emit(result)


if __name__ == "__main__":
    asyncio.run(main())
