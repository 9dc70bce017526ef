"""Tenant strings made safe for a terminal: the one sanitiser every table, line and error message uses.

State names, ids, agent and team names, reasons and the API's own error messages come from the tenant (or from
a server that pretends to be one). Written raw, an ESC sequence in one recolours or rewrites the screen, a ``\\r``
overwrites the line it is on, and a bidi override (U+202E) shows text in another order than it has. Every
character that is not printable (C0 and C1 controls, DEL, the bidi embeddings, overrides and isolates, other
format characters, unassigned and private code points, line and paragraph separators) is shown as a visible
escape instead (``\\x1b``, ``\\u202e``), so the text stays readable and nothing reaches the terminal that acts
on it. JSON output is never passed through here: it is exact, and JSON escapes control characters itself.

Also :func:`plural`, how a count and its noun are written in every line. Standard library only (rich's markup
escaping, :func:`markup_safe`, is imported when it is used).
"""

from __future__ import annotations


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every non-printable character (see the module) replaced by its visible escape."""
    if text.isprintable():  # the common case, at C speed: nothing to do
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def printable_lines(text: str) -> str:
    """Like :func:`printable`, but keeps the line breaks of a multi-line text (a traceback)."""
    return "\n".join(printable(line) for line in text.split("\n"))


def plural(count: int, one: str, many: str | None = None) -> str:
    """``count`` and its noun, singular for one: "1 run", "3 runs" (``many`` for an irregular plural)."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


def markup_safe(text: str) -> str:
    """:func:`printable`, then rich's markup escaped: ``[bold]`` in a tenant string is shown, never applied."""
    from rich.markup import escape

    return escape(printable(text))
