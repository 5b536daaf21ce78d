"""Tools available to agents: a local BM25 search index, a sandboxed Python interpreter, a calculator."""

from agentinstruct.tools.calculator import CalculatorError, evaluate
from agentinstruct.tools.sandbox import SandboxResult, TestOutcome, TestRunResult, run_python, run_tests
from agentinstruct.tools.search import SearchHit, SearchIndex, extract_code_units, tokenize
from agentinstruct.tools.toolbox import Toolbox

__all__ = [
    "CalculatorError",
    "SandboxResult",
    "SearchHit",
    "SearchIndex",
    "TestOutcome",
    "TestRunResult",
    "Toolbox",
    "evaluate",
    "extract_code_units",
    "run_python",
    "run_tests",
    "tokenize",
]
