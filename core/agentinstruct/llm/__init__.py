"""The LLM layer: the `LLM` port, its one real implementation (`OpenAILLM`), limits, cache and errors."""

from agentinstruct.llm.base import LLM, LLMResult, Role, ToolCall
from agentinstruct.llm.cache import (
    CachedResponse,
    MemoryCache,
    ResponseCache,
    SQLiteCache,
    cache_key,
    canonical_json,
    digest,
)
from agentinstruct.llm.errors import RETRYABLE, ErrorKind, LLMError
from agentinstruct.llm.limits import (
    SHARED_LIMITERS,
    LimitConfig,
    Limiter,
    LimiterRegistry,
    LimiterStats,
    Outcome,
    Permit,
    RateLimitHeaders,
    TokenBucket,
    parse_duration,
    parse_retry_after,
)
from agentinstruct.llm.openai_llm import (
    CallHook,
    LLMSnapshot,
    OpenAILLM,
    TokenCount,
    ToolRunner,
    classify,
    strip_fence,
)
from agentinstruct.llm.settings import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE, LLMSettings

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_TEMPERATURE",
    "LLM",
    "RETRYABLE",
    "SHARED_LIMITERS",
    "CachedResponse",
    "CallHook",
    "ErrorKind",
    "LLMError",
    "LLMResult",
    "LLMSettings",
    "LLMSnapshot",
    "LimitConfig",
    "Limiter",
    "LimiterRegistry",
    "LimiterStats",
    "MemoryCache",
    "OpenAILLM",
    "Outcome",
    "Permit",
    "RateLimitHeaders",
    "ResponseCache",
    "Role",
    "SQLiteCache",
    "TokenBucket",
    "TokenCount",
    "ToolCall",
    "ToolRunner",
    "cache_key",
    "canonical_json",
    "classify",
    "digest",
    "parse_duration",
    "parse_retry_after",
    "strip_fence",
]
