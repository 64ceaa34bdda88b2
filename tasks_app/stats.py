"""Finished-task statistics as plain data: counts by status and a duration histogram.

One `TaskStats` summarises the finished tasks of one type over some time; they add up, so
hourly roll-ups and live rows combine into any window. Plain Python, no ORM.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

# The marker row of an hour that has been rolled up: totals over every type.
ALL_TYPES = "*"
# The histogram's upper bounds in seconds (Prometheus `le`); "+Inf" is implied last.
DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


def _empty_buckets() -> list[int]:
    return [0] * (len(DURATION_BUCKETS) + 1)


@dataclass
class TaskStats:
    task_type: str
    succeeded: int = 0
    failed: int = 0
    revoked: int = 0
    duration_sum: float = 0.0
    duration_count: int = 0
    # Non-cumulative counts per bucket; the last one is above the largest bound.
    buckets: list[int] = field(default_factory=_empty_buckets)
    # Exact p95 when computed from rows (or one roll-up); None once merged.
    p95_exact: float | None = None
    # The lowest and highest exact p95 of the merged parts: the estimate stays between them.
    p95_low: float | None = None
    p95_high: float | None = None

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.revoked

    @property
    def mean(self) -> float | None:
        return self.duration_sum / self.duration_count if self.duration_count else None

    @property
    def p95(self) -> float | None:
        """The exact 95th percentile when known, else the histogram's estimate, kept between
        the lowest and highest p95 of the parts merged (so uniform hours stay exact)."""
        if self.p95_exact is not None:
            return self.p95_exact
        estimate = histogram_quantile(0.95, self.buckets)
        if estimate is None or self.p95_low is None or self.p95_high is None:
            return estimate
        return min(max(estimate, self.p95_low), self.p95_high)

    def add_durations(self, seconds: list[float]) -> None:
        for value in seconds:
            self.buckets[bucket_index(value)] += 1
        self.duration_sum += sum(seconds)
        self.duration_count += len(seconds)
        ordered = sorted(seconds)
        if ordered:
            self.p95_exact = ordered[max(1, math.ceil(0.95 * len(ordered))) - 1]
            self.p95_low = self.p95_high = self.p95_exact

    def __add__(self, other: TaskStats) -> TaskStats:
        return TaskStats(
            task_type=self.task_type,
            succeeded=self.succeeded + other.succeeded,
            failed=self.failed + other.failed,
            revoked=self.revoked + other.revoked,
            duration_sum=self.duration_sum + other.duration_sum,
            duration_count=self.duration_count + other.duration_count,
            buckets=[a + b for a, b in zip(self.buckets, other.buckets, strict=True)],
            # Still exact when only one side has durations.
            p95_exact=(
                self.p95_exact
                if not other.duration_count
                else other.p95_exact
                if not self.duration_count
                else None
            ),
            p95_low=_merge_bound(min, self.p95_low, other.p95_low),
            p95_high=_merge_bound(max, self.p95_high, other.p95_high),
        )

    def as_row_fields(self) -> dict:
        """The fields of a TaskStatsHourly row (buckets cumulative, keyed by bound)."""
        return {
            "succeeded": self.succeeded,
            "failed": self.failed,
            "revoked": self.revoked,
            "duration_sum": self.duration_sum,
            "duration_count": self.duration_count,
            "duration_p95": self.p95,
            "duration_buckets": dict(zip(bucket_labels(), cumulative(self.buckets), strict=True)),
        }

    @classmethod
    def from_row(cls, row) -> TaskStats:
        counts = [int(row.duration_buckets.get(label, 0)) for label in bucket_labels()]
        buckets = [b - a for a, b in zip([0, *counts[:-1]], counts, strict=True)]
        return cls(
            task_type=row.task_type,
            p95_exact=row.duration_p95,
            p95_low=row.duration_p95,
            p95_high=row.duration_p95,
            succeeded=row.succeeded,
            failed=row.failed,
            revoked=row.revoked,
            duration_sum=row.duration_sum,
            duration_count=row.duration_count,
            buckets=buckets if any(counts) else _empty_buckets(),
        )


def sum_by_type(parts: Iterable[dict[str, TaskStats]]) -> dict[str, TaskStats]:
    """Each type's TaskStats added up over `parts` ({task_type: TaskStats} each)."""
    totals: dict[str, TaskStats] = {}
    for part in parts:
        for task_type, stats in part.items():
            totals[task_type] = totals.get(task_type, TaskStats(task_type)) + stats
    return totals


def _merge_bound(pick, a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return pick(a, b)


def bucket_index(seconds: float) -> int:
    for index, bound in enumerate(DURATION_BUCKETS):
        if seconds <= bound:
            return index
    return len(DURATION_BUCKETS)


def bucket_labels() -> list[str]:
    """Bounds spelt as Prometheus clients spell `le` ("0.1", "5.0", "+Inf")."""
    return [repr(float(bound)) for bound in DURATION_BUCKETS] + ["+Inf"]


def cumulative(buckets: list[int]) -> list[int]:
    total, out = 0, []
    for count in buckets:
        total += count
        out.append(total)
    return out


def histogram_quantile(q: float, buckets: list[int]) -> float | None:
    """Estimate a quantile from bucket counts by linear interpolation, as Prometheus does."""
    total = sum(buckets)
    if not total:
        return None
    rank = q * total
    seen = 0
    lower = 0.0
    for index, count in enumerate(buckets):
        upper = DURATION_BUCKETS[index] if index < len(DURATION_BUCKETS) else None
        if count and seen + count >= rank:
            if upper is None:
                return lower
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
        if upper is not None:
            lower = upper
    return lower
