"""`lore-bench data doctor`: for each dataset, is it prepared, do its images
decode, and if not, what is missing or broken and where it comes from."""
from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

from ..errors import UserError, did_you_mean, strip_marker
from .base import DATASETS, DatasetMissingError, DoctorReport, default_data_root

STATUS_ORDER = {"found": 0, "partial": 1, "broken": 2, "missing": 3}


def doctor_one(name: str, root: str | Path | None = None, deep: bool = False) -> DoctorReport:
    dataset = DATASETS.get(name)(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # count mismatches are reported in the detail instead
        try:
            return dataset.doctor(deep=deep)
        except DatasetMissingError as err:
            return DoctorReport(name, "missing", detail=err.message)
        except Exception as err:  # a broken file must not stop the report on the others
            return DoctorReport(name, "partial", detail=f"{type(err).__name__}: {err}")


def known_names() -> list[str]:
    from .frozen import FROZEN_DATASETS

    return DATASETS.names() + sorted(FROZEN_DATASETS)


def doctor_all(names: list[str] | None = None, root: str | Path | None = None, deep: bool = False) -> list[DoctorReport]:
    """One report per dataset (all registered classification datasets and the
    frozen-feature tasks' datasets by default), in name order. An unknown name
    is a :class:`UserError` with the nearest known one."""
    from .frozen import FROZEN_DATASETS, frozen_doctor_reports

    known = known_names()
    for name in names or []:
        if name not in known:
            raise UserError("data doctor", f"unknown dataset '{name}'" + did_you_mean(name, known),
                            fix="`lore-bench ls datasets` lists them; `lore-bench data doctor` checks all")
    wanted = names or known
    frozen = {r.name: r for r in frozen_doctor_reports(root)} if set(wanted) & set(FROZEN_DATASETS) else {}
    return [frozen[name] if name in frozen else doctor_one(name, root, deep) for name in wanted]


def format_reports(reports: list[DoctorReport], root: str | Path | None = None, verbose: bool = True) -> str:
    """A table (name, status, counts) followed by what to do for each dataset
    that is not found."""
    base = Path(root).expanduser() if root else default_data_root()
    note = "" if base.is_dir() else ("  (not a directory)" if base.exists() else "  (does not exist)")
    lines = [f"data root: {base}{note}", ""]
    width = max([len(r.name) for r in reports] + [7])
    lines.append(f"{'dataset':<{width}}  {'status':<8} counts")
    for r in reports:
        counts = " ".join(f"{k}={v}" for k, v in r.counts.items()) or "-"
        lines.append(f"{r.name:<{width}}  {r.status:<8} {counts}")
    if verbose:
        for r in reports:
            if r.detail:
                lines += ["", f"{r.name} ({r.status}):", textwrap.indent(strip_marker(r.detail), "  ")]
    summary = {s: sum(r.status == s for r in reports) for s in STATUS_ORDER}
    lines += ["", ", ".join(f"{n} {s}" for s, n in summary.items() if n or s in ("found", "missing"))]
    return "\n".join(lines)
