"""Peer: distilabel (runs in bench/.venvs/distilabel).

`single`: `LoadDataFromDicts >> TextGeneration(OpenAILLM)`, plain text (distilabel's OpenAI client offers only
`json_object`, not a JSON schema; its pydantic path goes through instructor), concurrency = `input_batch_size`
= C (distilabel gathers one batch at a time per step replica). `chain`: 6 `TextGeneration` steps chained with
`>>` (each in its own process, batches flowing between them), then a marker step that notes when the first
finished batch reached the end of the DAG (`first_pair_s`). `--use-cache` turns on distilabel's resume
(pipeline cache in `--work-dir`), for the crash scenario.
"""

# no `from __future__ import annotations`: distilabel reads the step function's type hints at run time

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _protocol as p

p.quiet_environment()

from distilabel.models import OpenAILLM  # noqa: E402
from distilabel.pipeline import Pipeline  # noqa: E402
from distilabel.steps import LoadDataFromDicts, StepInput, step  # noqa: E402
from distilabel.steps.tasks import TextGeneration  # noqa: E402

MARKER_ENV = "BENCH_FIRST_PAIR_FILE"


@step(inputs=["g5"], outputs=["g5"])
def MarkFirst(inputs: StepInput):
    """Notes (in the file named by $BENCH_FIRST_PAIR_FILE) when the first batch reached the end of the DAG."""
    marker = Path(os.environ[MARKER_ENV])
    if not marker.exists():
        marker.write_text(repr(time.time()))
    yield inputs


def main() -> None:
    args = p.parse_args(extra={"--use-cache": {"action": "store_true"}})
    os.environ["DISTILABEL_CACHE_DIR"] = args.work_dir
    marker = Path(args.work_dir) / "first-pair.time"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    os.environ[MARKER_ENV] = str(marker)

    def llm() -> OpenAILLM:
        return OpenAILLM(
            model=p.MODEL,
            base_url=args.base_url,
            api_key="bench",
            max_retries=args.max_retries,
            timeout=int(args.timeout_s),
            generation_kwargs={"max_new_tokens": p.MAX_TOKENS, "temperature": 0.7},
        )

    C = args.concurrency
    with Pipeline(name=f"bench-{args.workload}-{args.n}", cache_dir=args.work_dir) as pipeline:
        if args.workload == "single":
            data = [{"i": i, "instruction": p.single_prompt(i)} for i in range(args.n)]
            load = LoadDataFromDicts(data=data, batch_size=C)
            gen = TextGeneration(
                llm=llm(),
                input_batch_size=C,
                add_raw_output=False,
                add_raw_input=False,
                output_mappings={"generation": "summary"},
            )
            load >> gen
        else:
            data = [{"i": i, "doc": p.seed_text(i)} for i in range(args.n)]
            previous = LoadDataFromDicts(data=data, batch_size=C)
            for k in range(len(p.CHAIN_STEPS)):
                column = "doc" if k == 0 else f"g{k - 1}"
                template = (
                    p.chain_prompt(0, 0, "").split(": ", 1)[0] + ": {{ doc }}"
                    if k == 0
                    else "{% set carried = " + column + "[:400] %}" + p.chain_prompt(k, 0, "{{ carried }}")
                )
                task = TextGeneration(
                    name=f"chain_{k}",
                    llm=llm(),
                    input_batch_size=C,
                    add_raw_output=False,
                    add_raw_input=False,
                    template=template,
                    columns=[column],
                    output_mappings={"generation": f"g{k}"},
                )
                previous >> task
                previous = task
            previous >> MarkFirst()

    meter = p.Meter()
    meter.start()
    distiset = pipeline.run(use_cache=args.use_cache)
    table = distiset["default"]["train"]
    column = "summary" if args.workload == "single" else "g5"
    rows = [{"i": r["i"], column: r[column]} for r in table if r.get(column)]
    first = meter.since_start(float(marker.read_text())) if marker.exists() else None
    result = meter.stop(rows=len(rows), failed=args.n - len(rows), first_pair_s=first)
    p.write_rows(args.out, rows)
    p.emit(result)


if __name__ == "__main__":
    main()
