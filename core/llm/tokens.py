r"""Approximate token counts, for comparing prompt sizes offline.

No model tokenizer is available offline for every backend (``tiktoken`` needs a download), so
counts here are a documented heuristic, not a tokenizer: a text is split into words (``\w+``) and
single punctuation marks; each word counts as 1.3 tokens (BPE vocabularies split about one English
word in three) and each punctuation mark as 1 token. On English prose this lands within about
15% of GPT-style tokenizers. Use backend-reported usage (``ChatResult.tokens_in``) when it exists.
"""

from __future__ import annotations

import math
import re

from core.llm.types import Message

_WORD = re.compile(r"\w+")
_PUNCT = re.compile(r"[^\w\s]")
WORD_TOKENS = 1.3
MESSAGE_OVERHEAD = 4  # role markers and separators per chat message


def count_tokens(text: str) -> int:
    """Return the approximate token count of ``text`` (see the module docstring).

    Examples:
        >>> count_tokens("Hello, world!")
        5
        >>> count_tokens("")
        0
    """
    words = len(_WORD.findall(text))
    punct = len(_PUNCT.findall(text))
    return math.ceil(words * WORD_TOKENS) + punct


def count_message_tokens(messages: list[Message]) -> int:
    """Return the approximate prompt tokens of chat messages, with a small per-message overhead."""
    return sum(count_tokens(m.get("content") or "") + MESSAGE_OVERHEAD for m in messages)
