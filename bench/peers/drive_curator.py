"""Peer: Bespoke Labs curator (runs in bench/.venvs/curator). Telemetry off (`TELEMETRY_ENABLED=false`).

`single`: one `curator.LLM` block over N rows with `response_format=Summary` (a pydantic model; curator sends
a `json_schema` response format and parses the answer into the model). `chain`: 6 blocks, each a map over the
previous block's dataset (curator runs a block at a time), plain text. Backend `openai` with `base_url`,
`max_concurrent_requests=C`, request and token rates set far above anything reachable (the mock sends no
rate-limit headers; curator's defaults would otherwise cap it at 200 requests/min), `max_retries` as given.
The cache directory (`--work-dir`) makes a rerun resume: requests with a stored response are not sent.
`first_pair_s` is curator calling the last block's `parse` for the first time (as responses arrive), though the
rows reach the caller only when the block returns.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _protocol as p

p.quiet_environment()

FIRST: list[float] = []


def _offline_tiktoken() -> None:
    """curator counts tokens with tiktoken, which downloads its encoding on first use; litellm (a curator
    dependency) ships that file, so point tiktoken's cache at it (no network here)."""
    import importlib.util

    spec = importlib.util.find_spec("litellm")
    if spec is not None and spec.origin is not None:
        folder = Path(spec.origin).parent / "litellm_core_utils" / "tokenizers"
        if folder.is_dir():
            os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(folder))


def main() -> None:
    args = p.parse_args()
    os.environ["CURATOR_CACHE_DIR"] = args.work_dir
    _offline_tiktoken()
    from bespokelabs import curator
    from pydantic import BaseModel

    class Summary(BaseModel):
        summary: str

    backend_params = {
        "base_url": args.base_url,
        "api_key": "bench",
        "max_concurrent_requests": args.concurrency,
        "max_requests_per_minute": 10**9,
        "max_tokens_per_minute": 10**12,
        "max_retries": args.max_retries,
        "request_timeout": int(args.timeout_s),
    }
    generation = {"max_tokens": p.MAX_TOKENS, "temperature": 0.7}

    class Summarise(curator.LLM):
        response_format = Summary

        def prompt(self, row: dict) -> str:
            return p.single_prompt(row["i"])

        def parse(self, row: dict, response: Summary) -> dict:
            return {"i": row["i"], "summary": response.summary}

    class ChainStep(curator.LLM):
        def __init__(self, step: int, **kwargs: object) -> None:
            self.step = step
            super().__init__(**kwargs)

        def prompt(self, row: dict) -> str:
            return p.chain_prompt(self.step, row["i"], row["prev"])

        def parse(self, row: dict, response: str) -> dict:
            if self.step == len(p.CHAIN_STEPS) - 1 and not FIRST:
                FIRST.append(time.time())
            return {"i": row["i"], "prev": response}

    meter = p.Meter()
    if args.workload == "single":
        block = Summarise(
            model_name=p.MODEL, backend="openai", backend_params=backend_params, generation_params=generation
        )
        meter.start()
        dataset = block([{"i": i} for i in range(args.n)]).dataset
        rows = [{"i": r["i"], "summary": r["summary"]} for r in dataset]
        first = None
    else:
        blocks = [
            ChainStep(
                step, model_name=p.MODEL, backend="openai", backend_params=backend_params, generation_params=generation
            )
            for step in range(len(p.CHAIN_STEPS))
        ]
        meter.start()
        data: object = [{"i": i, "prev": ""} for i in range(args.n)]
        for block in blocks:
            data = block(data).dataset
        rows = [{"i": r["i"], "judge": r["prev"]} for r in data]  # type: ignore[attr-defined]
        first = meter.since_start(FIRST[0] if FIRST else None)
    result = meter.stop(rows=len(rows), failed=args.n - len(rows), first_pair_s=first)
    p.write_rows(args.out, rows)
    p.emit(result)


if __name__ == "__main__":
    main()
