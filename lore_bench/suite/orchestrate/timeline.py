"""Where a run's wall time went: the trials' own train + eval time, and the
overhead around it, split so that it adds up exactly.

With ``C`` trial slots and wall time ``W`` (from before Ray starts to after it
stops), the run's slot-seconds ``C * W`` are the trials' spans (Tune's start to
their rows being stored) plus the slot-seconds no trial used. Hence

    W = own / C                          the ideal: trials' own train + eval over the slots
      + (spans - own) / C                inside a trial, outside its train + eval (set-up,
                                         imports, data, progress reports, the store write)
      + idle / C                         slots without a trial between the first start and the
                                         last end (Tune's scheduling gaps, waves' tails)
      + before + after                   Ray's start and first trial; the last trial to shutdown

Pure arithmetic (no Ray): the driver records the spans, the CLI prints the split.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Span:
    start: float
    end: float
    own: float  # the trial's train + eval seconds, as its rows say


@dataclass
class Timeline:
    slots: int = 1
    t0: float = 0.0  # before Ray starts
    ray_ready: float = 0.0  # Ray started (or joined); 0: not recorded
    t1: float = 0.0  # after Ray stops
    spans: list[Span] = field(default_factory=list)
    report_wait: float = 0.0  # of in_trial: trials blocked in their progress reports (trial-seconds)

    def add(self, start: float, end: float, own: float) -> None:
        self.spans.append(Span(start, max(start, end), max(0.0, own)))

    @property
    def wall(self) -> float:
        return max(0.0, self.t1 - self.t0)

    def split(self) -> dict[str, float]:
        """The wall time's parts, in wall seconds; all but ``ray_start`` (a part of
        ``before``) sum to ``wall``."""
        if not self.spans:
            return {"ideal": 0.0, "in_trial": 0.0, "idle": 0.0, "before": self.wall, "after": 0.0,
                "ray_start": max(0.0, (self.ray_ready or self.t0) - self.t0)}
        first = min(s.start for s in self.spans)
        last = max(s.end for s in self.spans)
        own = sum(s.own for s in self.spans)
        spans = sum(s.end - s.start for s in self.spans)
        busy_window = self.slots * (last - first)
        return {
            "ideal": own / self.slots,
            "in_trial": (spans - own) / self.slots,
            "idle": (busy_window - spans) / self.slots,  # negative if more trials ran than slots were assumed
            "before": max(0.0, first - self.t0),
            "ray_start": max(0.0, (self.ray_ready or self.t0) - self.t0),  # part of before
            "after": max(0.0, self.t1 - last),
        }

    def summary_line(self) -> str:
        """One line: wall / ideal and what the rest is."""
        parts = self.split()
        if parts["ideal"] <= 0:
            return f"wall {self.wall:.0f}s"
        return (f"wall {self.wall:.0f}s = ideal {parts['ideal']:.0f}s (trials' own train + eval over {self.slots} "
                f"slot{'s' if self.slots != 1 else ''}) x {self.wall / parts['ideal']:.2f}; the rest: "
                f"Ray start to first trial {parts['before']:.0f}s (Ray itself {parts['ray_start']:.0f}s), inside trials outside train + eval "
                f"{parts['in_trial']:.0f}s (of which waiting on progress reports {self.report_wait / self.slots:.0f}s), idle slots {parts['idle']:.0f}s, last trial to Ray's end "
                f"{parts['after']:.0f}s")
