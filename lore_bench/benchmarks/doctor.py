"""`lore-bench data doctor`: for each dataset, is it prepared, and if not, what
is missing and where it comes from."""
from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

from .base import DATASETS, DatasetMissingError, DoctorReport, default_data_root

STATUS_ORDER = {"found": 0, "partial": 1, "missing": 2}


def doctor_one(name: str, root: str | Path | None = None) -> DoctorReport:
    dataset = DATASETS.get(name)(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # count mismatches are reported in the detail instead
        try:
            return dataset.doctor()
        except DatasetMissingError as err:
            return DoctorReport(name, "missing", detail=str(err))
        except Exception as err:  # a broken file must not stop the report on the others
            return DoctorReport(name, "partial", detail=f"{type(err).__name__}: {err}")


def doctor_all(names: list[str] | None = None, root: str | Path | None = None) -> list[DoctorReport]:
    """One report per dataset (all registered classification datasets and the
    frozen-feature tasks' datasets by default), in name order."""
    from .frozen import FROZEN_DATASETS, frozen_doctor_reports

    wanted = names or DATASETS.names() + sorted(FROZEN_DATASETS)
    frozen = {r.name: r for r in frozen_doctor_reports(root)} if set(wanted) & set(FROZEN_DATASETS) else {}
    return [frozen[name] if name in frozen else doctor_one(name, root) for name in wanted]


def format_reports(reports: list[DoctorReport], root: str | Path | None = None, verbose: bool = True) -> str:
    """A table (name, status, counts) followed by what to do for each dataset
    that is not found."""
    base = Path(root).expanduser() if root else default_data_root()
    lines = [f"data root: {base}", ""]
    width = max([len(r.name) for r in reports] + [7])
    lines.append(f"{'dataset':<{width}}  {'status':<8} counts")
    for r in reports:
        counts = " ".join(f"{k}={v}" for k, v in r.counts.items()) or "-"
        lines.append(f"{r.name:<{width}}  {r.status:<8} {counts}")
    if verbose:
        for r in reports:
            if r.detail:
                lines += ["", f"{r.name} ({r.status}):", textwrap.indent(r.detail, "  ")]
    summary = {s: sum(r.status == s for r in reports) for s in STATUS_ORDER}
    lines += ["", ", ".join(f"{n} {s}" for s, n in summary.items())]
    return "\n".join(lines)
