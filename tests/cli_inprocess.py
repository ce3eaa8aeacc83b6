"""Run `lore-bench` in this process (fast: no interpreter start, imports paid
once) and check the shape of what a user sees for a mistake."""
from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SUITE = ROOT / "suite.yaml"
MAX_LINES = 25  # one terminal screen


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def run_cli(argv: list[str], cwd: str | os.PathLike | None = None) -> Outcome:
    from lore_bench.cli import main

    out, err = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in argv])
            except SystemExit as exc:  # --help only; errors return a code
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(previous)
    return Outcome(code, out.getvalue(), err.getvalue())


def assert_clear_error(result: Outcome, *culprits: str) -> None:
    """Exit 2, no traceback, one screen, an 'error:' line, and every culprit named."""
    text = result.err
    assert result.code == 2, f"exit {result.code}\nstdout: {result.out[-1500:]}\nstderr: {text[-3000:]}"
    assert "Traceback" not in text, text
    assert text.startswith("error: "), text
    assert len(text.splitlines()) <= MAX_LINES, text
    for culprit in culprits:
        assert culprit in text, f"{culprit!r} not named in:\n{text}"
