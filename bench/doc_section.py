"""Write a bench's figures into its marked section of a document, leaving the hand-written rest alone.

Benches whose report sits inside a longer document (``docs/FACTORS.md``, ``docs/LLM_STAGES.md``)
write between a begin and an end marker, so a re-run replaces their figures and keeps the
decisions and explanations written around them.
"""

from __future__ import annotations

from pathlib import Path


def replace_section(path: Path, section: str, begin: str, end: str, title: str) -> None:
    """Replace the text from ``begin`` to ``end`` in ``path`` with ``section`` (which holds both markers).

    Args:
        path: The document.
        section: The new section, markers included.
        begin: The begin marker.
        end: The end marker.
        title: The first line of a document created here (``path`` missing).

    Without the markers in the document, the section is appended to it.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else f"{title}\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")
