"""The per-model retrain budget and cooldown: one rule, applied by the decide step and, again, by
RetrainOperator (defence in depth)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_agentic_mlops.core.state import StateStore

COOLDOWN, RETRAIN_BUDGET = "cooldown", "retrain_budget"


def allow_sooner(rules: Iterable[str], *, prefix: str = "") -> str:
    """What allows a retrain the ``rules`` (``cooldown``, ``retrain_budget``) refuse sooner, e.g. ``lower
    cooldown_hours``; ``prefix`` goes before each setting's name (``decision.`` for models.yaml)."""
    fired = set(rules)
    knobs = {
        COOLDOWN: f"lower {prefix}cooldown_hours",
        RETRAIN_BUDGET: f"raise {prefix}max_retrains or shorten {prefix}budget_window_hours",
    }
    return " and ".join(knobs[rule] for rule in (COOLDOWN, RETRAIN_BUDGET) if rule in fired)


@dataclass(frozen=True)
class BudgetCheck:
    """Whether one more retrain is allowed now.

    :param allowed: a retrain may start.
    :param reason: why (or why not), with the numbers.
    :param retrains_in_window: retrains counted in the budget window.
    :param next_allowed_at: earliest time a retrain would be allowed (naive UTC), when refused.
    :param violations: each rule that refuses, as ``(rule, why)``; rule is ``cooldown`` or ``retrain_budget``.
    """

    allowed: bool
    reason: str
    retrains_in_window: int
    next_allowed_at: datetime | None = None
    violations: tuple[tuple[str, str], ...] = ()


#: How :func:`check_retrain_budget`'s reasons say when a retrain is allowed again (its ``next allowed at ...``).
_NEXT_ALLOWED = re.compile(r"next allowed at (\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?::\d{2})? UTC)")


def next_allowed_in(reason: str) -> str | None:
    """The ``YYYY-MM-DD HH:MM:SS UTC`` a reason of :func:`check_retrain_budget` (a fired rule's detail, as a
    decision stores it) gives as the time a retrain is allowed again; None when it gives none."""
    match = _NEXT_ALLOWED.search(str(reason))
    return match.group(1) if match else None


def check_retrain_budget(
    *,
    now: datetime,
    last_retrain_at: datetime | None,
    retrains_in_window: int,
    cooldown_hours: float,
    max_retrains: int,
    budget_window_hours: float,
    oldest_in_window_at: datetime | None = None,
) -> BudgetCheck:
    """The per-model retrain budget and cooldown, as a pure function (all datetimes naive UTC).

    :param last_retrain_at: start of the last retrain that did not fail (None: never).
    :param retrains_in_window: retrains started in the last ``budget_window_hours`` (failed ones count, not one that
        never started its training).
    :param oldest_in_window_at: start of the oldest of those, to say when the budget frees up.
    """
    if cooldown_hours < 0 or max_retrains < 0 or budget_window_hours <= 0:
        raise ValueError(
            f"budget settings out of range: cooldown_hours={cooldown_hours} (>= 0), max_retrains={max_retrains} "
            f"(>= 0), budget_window_hours={budget_window_hours} (> 0)"
        )
    violations: list[tuple[str, str]] = []
    next_times: list[datetime] = []
    if retrains_in_window >= max_retrains:
        next_at = oldest_in_window_at + timedelta(hours=budget_window_hours) if oldest_in_window_at else None
        violations.append(
            (
                RETRAIN_BUDGET,
                f"retrain budget exhausted: {retrains_in_window} retrains in the last {budget_window_hours:g} h "
                f"(max_retrains={max_retrains})" + (f"; next allowed at {_round_up(next_at)} UTC" if next_at else ""),
            )
        )
        if next_at:
            next_times.append(next_at)
    if last_retrain_at is not None and cooldown_hours > 0:
        ready_at = last_retrain_at + timedelta(hours=cooldown_hours)
        if now < ready_at:
            violations.append(
                (
                    COOLDOWN,
                    f"in cooldown: last retrain started {last_retrain_at:%Y-%m-%d %H:%M:%S} UTC "
                    f"({_span(now - last_retrain_at)} ago), cooldown_hours={cooldown_hours:g}"
                    + (f" ({cooldown_hours * 60:g} min)" if cooldown_hours < 1 else "")
                    + f"; next allowed at {_round_up(ready_at)} UTC",
                )
            )
            next_times.append(ready_at)
    if violations:
        return BudgetCheck(
            False,
            "; ".join(why for _, why in violations),
            retrains_in_window,
            max(next_times) if next_times else None,
            tuple(violations),
        )
    return BudgetCheck(
        True,
        f"within budget: {retrains_in_window} of {max_retrains} retrains in the last {budget_window_hours:g} h"
        + (f", cooldown of {cooldown_hours:g} h elapsed" if last_retrain_at else ", no previous retrain"),
        retrains_in_window,
    )


def _span(delta: timedelta) -> str:
    """``delta`` for a person: ``40 s``, ``2.5 min``, ``3.1 h`` (a 6-minute cooldown read "0.0 h ago" in hours)."""
    seconds = delta.total_seconds()
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def _round_up(at: datetime) -> str:
    """``at`` to the second, rounded up: a "next allowed at" never reads earlier than it is (a cooldown
    ending 20:38:48.7 is not over at 20:38:48, and said to the minute it looked over before it began)."""
    whole = at.replace(microsecond=0)
    return f"{whole + timedelta(seconds=1) if whole < at else whole:%Y-%m-%d %H:%M:%S}"


@dataclass(frozen=True)
class BudgetInputs:
    """What the budget rule needs from the state store, read in one place for every caller.

    :param last_retrain_at: start of the last retrain that did not fail (None: never).
    :param retrains_in_window: retrains started in the budget window, failed ones included (not one
        that never started its training).
    :param oldest_in_window_at: start of the oldest of those (None: none), to say when the budget frees up.
    """

    last_retrain_at: datetime | None
    retrains_in_window: int
    oldest_in_window_at: datetime | None


def read_budget_inputs(
    store: StateStore,
    model_name: str,
    *,
    now: datetime,
    budget_window_hours: float,
    run: tuple[str | None, str | None] | None = None,
) -> BudgetInputs:
    """The budget rule's inputs for ``model_name``: used by the decide step and by RetrainOperator alike.

    :param run: ``(dag_id, run_id)`` of a DAG run about to start a retrain: its own failed jobs are not counted
        (:meth:`~airflow_provider_agentic_mlops.core.state.StateStore.retrains_since`).
    """
    count, oldest = store.retrains_since(model_name, since=now - timedelta(hours=budget_window_hours), run=run)
    last = store.last_retrain(model_name)
    return BudgetInputs(
        last_retrain_at=last["started_at"] if last else None,
        retrains_in_window=count,
        oldest_in_window_at=oldest,
    )


def read_budget_inputs_of(store: StateStore, windows: Mapping[str, float], *, now: datetime) -> dict[str, BudgetInputs]:
    """:func:`read_budget_inputs` of many models at once (``models list``): one read per distinct budget
    window and one for the last retrains, whatever the number of models.

    :param windows: ``{model: its budget_window_hours}``.
    """
    by_window: dict[float, list[str]] = {}
    for name, hours in windows.items():
        by_window.setdefault(hours, []).append(name)
    counted: dict[str, tuple[int, datetime]] = {}
    for hours, names in by_window.items():
        counted.update(store.retrains_since_of(names, since=now - timedelta(hours=hours)))
    last = store.last_retrain_starts(list(windows))
    return {
        name: BudgetInputs(
            last_retrain_at=last.get(name),
            retrains_in_window=counted[name][0] if name in counted else 0,
            oldest_in_window_at=counted[name][1] if name in counted else None,
        )
        for name in windows
    }


@dataclass(frozen=True)
class RetrainBudget:
    """A model's retrain limits, as RetrainOperator and ``models list`` apply them to the state store.

    :param cooldown_hours: hours after the last retrain during which none starts (None or 0: no cooldown).
    :param max_retrains: retrains allowed per ``budget_window_hours`` (None: unlimited).
    :param budget_window_hours: the budget's sliding window.
    """

    cooldown_hours: float | None
    max_retrains: int | None
    budget_window_hours: float

    @property
    def unlimited(self) -> bool:
        """Neither a cooldown nor a budget is set: nothing to check."""
        return self.cooldown_hours is None and self.max_retrains is None

    def check(
        self, store: StateStore, model_name: str, *, now: datetime, run: tuple[str | None, str | None] | None = None
    ) -> BudgetCheck:
        """:func:`check_store_budget` with these limits (None read as "no limit")."""
        return check_store_budget(
            store,
            model_name,
            now=now,
            run=run,
            cooldown_hours=self.cooldown_hours or 0,
            max_retrains=self.max_retrains if self.max_retrains is not None else 10**9,
            budget_window_hours=self.budget_window_hours,
        )

    def check_inputs(self, inputs: BudgetInputs, *, now: datetime) -> BudgetCheck:
        """:meth:`check` on inputs already read (:func:`read_budget_inputs_of`)."""
        return check_retrain_budget(
            now=now,
            last_retrain_at=inputs.last_retrain_at,
            retrains_in_window=inputs.retrains_in_window,
            cooldown_hours=self.cooldown_hours or 0,
            max_retrains=self.max_retrains if self.max_retrains is not None else 10**9,
            budget_window_hours=self.budget_window_hours,
            oldest_in_window_at=inputs.oldest_in_window_at,
        )


def check_store_budget(
    store: StateStore,
    model_name: str,
    *,
    now: datetime,
    cooldown_hours: float,
    max_retrains: int,
    budget_window_hours: float,
    run: tuple[str | None, str | None] | None = None,
) -> BudgetCheck:
    """:func:`check_retrain_budget` on what the store knows about ``model_name`` (RetrainOperator, ``models list``).

    :param run: ``(dag_id, run_id)`` of the DAG run about to retrain, whose own failed jobs do not count.
    """
    inputs = read_budget_inputs(store, model_name, now=now, budget_window_hours=budget_window_hours, run=run)
    return check_retrain_budget(
        now=now,
        last_retrain_at=inputs.last_retrain_at,
        retrains_in_window=inputs.retrains_in_window,
        cooldown_hours=cooldown_hours,
        max_retrains=max_retrains,
        budget_window_hours=budget_window_hours,
        oldest_in_window_at=inputs.oldest_in_window_at,
    )
