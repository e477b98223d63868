"""The simulated operator: answers approval requests with a given accuracy, delay and absence.

For a request raised at tick t on pipeline p, everything is drawn from the (seed, p, t) operator
stream, so every policy meets the same operator behaviour at the same moment:

* with probability ``absence`` nobody answers and the request expires after the policy's
  ``approval.expires_after``;
* otherwise the answer comes ``response_ticks`` later (uniform integer in the range);
* with probability ``accuracy`` the operator knows the ground truth (the best action the guards
  allow, from ``World.action_values``): approves when the proposal is as good as the best,
  rejects it when the best is to do nothing, and otherwise overrides it with the best action;
* otherwise the operator guesses: approve or reject with equal probability.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from selfheal.sim.scenario import OperatorSettings

Verdict = Literal["approve", "reject", "override", "absent"]


@dataclass(frozen=True)
class Answer:
    verdict: Verdict
    delay_ticks: int
    action: str | None = None
    """The operator's own pick, for overrides."""
    informed: bool = False
    """Whether the answer followed the ground truth (False: a guess)."""


def answer(
    settings: OperatorSettings,
    rng: np.random.Generator,
    *,
    proposed: str,
    values: np.ndarray,
    allowed: np.ndarray,
    actions: tuple[str, ...],
) -> Answer:
    """The operator's answer to a request proposing `proposed` (values: exact net values)."""
    u = rng.random(4)
    low, high = settings.response_ticks
    delay = low + int(u[1] * (high - low + 1))
    if u[0] < settings.absence:
        return Answer("absent", delay)
    if u[2] >= settings.accuracy:
        return Answer("approve" if u[3] < 0.5 else "reject", delay)
    masked_values = np.where(allowed, values, -np.inf)
    best = int(np.argmax(masked_values))
    chosen = actions.index(proposed)
    if values[chosen] >= masked_values[best] - 1e-9:
        return Answer("approve", delay, informed=True)
    if actions[best] == "none":
        return Answer("reject", delay, informed=True)
    return Answer("override", delay, action=actions[best], informed=True)
