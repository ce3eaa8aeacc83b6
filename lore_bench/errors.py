"""User errors: the one kind of exception the CLI turns into a short message and exit code 2.

A :class:`UserError` names where the mistake is (a file and line, or a flag),
the field, what was expected, the nearest valid value and a fix. Errors raised
inside a trial (a Ray worker) reach the driver only as traceback text, so a
user-facing message there carries a marker line (:data:`ERROR_MARKER`) that
:func:`user_error_line` finds again.
"""
from __future__ import annotations

from typing import Any, Iterable

#: prefix of the line, inside an exception's text, that says what the user must fix
ERROR_MARKER = "lore-bench-error:"


class UserError(Exception):
    """A mistake in what the user gave: a suite file, a flag, a name, a path, a file on disk.

    ``where`` is a file (``suite.yaml``), a file and line, or a flag (``--only``);
    ``field`` the key inside it (omitted when it would repeat ``where``).
    """

    def __init__(self, where: str, message: str, *, field: str | None = None, line: int | None = None,
                 fix: str | None = None):
        self.where, self.message, self.field, self.line, self.fix = where, message, field, line, fix
        super().__init__(self.render())

    def render(self) -> str:
        place = f"{self.where}:{self.line}" if self.line else self.where
        head = f"{place}: {self.field}: " if self.field and self.field != self.where else f"{place}: "
        return head + self.message + (f"\n  fix: {self.fix}" if self.fix else "")


def describe(value: Any, limit: int = 60) -> str:
    """A value as a user wrote it, with its YAML kind: ``an integer (3)``, ``null``."""
    if value is None:
        return "null"
    kinds = [(bool, "true/false"), (int, "an integer"), (float, "a number"), (str, "a string"),
             (list, "a list"), (dict, "a mapping")]
    kind = next((name for t, name in kinds if isinstance(value, t)), type(value).__name__)
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{kind} ({text})"


def did_you_mean(value: Any, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the nearest known name, or ``""``."""
    from .plugins import nearest

    near = nearest(str(value), [str(k) for k in known])
    return f"; did you mean '{near}'?" if near else ""


def user_error_line(text: str) -> str | None:
    """The last marked line in an exception's text (a worker's traceback), without the marker."""
    for line in reversed(text.splitlines()):
        at = line.find(ERROR_MARKER)
        if at >= 0:
            return line[at + len(ERROR_MARKER):].strip() or None
    return None


class DataError(RuntimeError):
    """A dataset file that is missing, unreadable or broken.

    The message's first line says which file and what is wrong (later lines may
    say where the data comes from). ``str()`` appends that line once more after
    :data:`ERROR_MARKER`, so it survives as the actionable line of a Ray
    worker's traceback text.
    """

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    @property
    def summary(self) -> str:
        """One line: the marked line of a wrapped error, else the first line."""
        lines = [ln for ln in self.message.splitlines() if ln.strip()]
        return user_error_line(self.message) or (lines[0].strip() if lines else type(self).__name__)

    def __str__(self) -> str:
        return f"{self.message}\n{ERROR_MARKER} {self.summary}"


def strip_marker(text: str) -> str:
    """``text`` without its marker lines (for messages shown whole, e.g. by `data doctor`)."""
    return "\n".join(line for line in text.splitlines() if ERROR_MARKER not in line)
