"""Fixes applied to the FerretDB v1.24.2 source before it is built by scripts/infra/infra.sh.

Each fix replaces one exact snippet; the build stops if a snippet is not found, so a version bump cannot
silently skip a fix.

1. `$group` with several accumulators: v1.24.2 creates one iterator over a group's documents and hands it to
   every accumulator in turn, so the first accumulator exhausts it and the others see no documents
   (`{n: {$sum: 1}, tokens: {$sum: "$tokens"}}` gives the right `n` and `tokens: 0`). The fix gives each
   accumulator its own iterator, as MongoDB behaves.

Usage: python3 patch_source.py SOURCE_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

FIXES: list[tuple[str, str, str]] = [
    (
        "internal/handler/common/aggregations/stages/group.go",
        """
		groupIter := iterator.Values(iterator.ForSlice(groupedDocument.documents))
		defer groupIter.Close()

		for _, accumulation := range g.groupBy {
			out, err := accumulation.accumulator.Accumulate(groupIter)
			if err != nil {
""",
        """
		for _, accumulation := range g.groupBy {
			groupIter := iterator.Values(iterator.ForSlice(groupedDocument.documents))
			out, err := accumulation.accumulator.Accumulate(groupIter)
			groupIter.Close()

			if err != nil {
""",
    ),
]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} SOURCE_DIR", file=sys.stderr)
        return 2
    root = Path(argv[1])
    for relative, old, new in FIXES:
        path = root / relative
        text = path.read_text()
        if text.count(old) != 1:
            print(f"{path}: expected snippet not found exactly once; is this FerretDB v1.24.2?", file=sys.stderr)
            return 1
        path.write_text(text.replace(old, new))
        print(f"patched {relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
