"""Overlap between the experience and a decision: outcomes of each action in the rules' regime.

The rules split the space of signals into two *regimes*: **alarm** (some rule's condition
`signal <op> threshold` holds on the window, taken alone: `for_windows`, masks and history are
ignored) and **quiet** (none holds; the default action stands). The engine's own choices are
nearly deterministic given the regime: with no exploration it runs the default in quiet windows
and a rule's remedy in alarms, so an action is observed in the other regime only when a guard
masked the rule's action, the adaptive layer won, or exploration ran it.

A comparison of two actions in a regime where one of them was (nearly) never chosen is not
identified by the data: the linear model's estimate there is an extrapolation from the other
regime, and its posterior is confident only because the model is assumed to be right. This is the
positivity (overlap) condition of causal inference and off-policy evaluation (Rosenbaum & Rubin,
"The central role of the propensity score", Biometrika 1983; a logging policy must give positive
probability to every action the evaluated policy may take). Outcomes of operators' overrides do
not count towards it: an operator picks an action from knowledge the engine does not have (and
such rows are not off-policy evaluable for the same reason), so their outcomes say how good the
action is where a human knew it was right, not where the engine would choose it. In the simulator
(`docs/simulator-results.md`, `scripts/sim_diagnose.py`) confidence without overlap claimed
"escalate beats none" at 0.6-0.98, which held 6-15% of the time; most of escalate's outcomes came
from operators' overrides.

`RegimeSupport` counts the engine-chosen outcome experiences of each action per regime (add and
remove as the window slides, exact rebuild from the window); the hybrid controller states a
confidence only when both compared actions have `min_samples_per_action` of them in the current
regime.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from selfheal.policy.model import Policy
from selfheal.signals.names import SIGNAL_NAMES

QUIET, ALARM = 0, 1
_COLUMN = {name: j for j, name in enumerate(SIGNAL_NAMES)}

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
_COMPARE_ARRAY: dict[str, np.ufunc] = {
    ">=": np.greater_equal,
    ">": np.greater,
    "<=": np.less_equal,
    "<": np.less,
}


class RegimeSupport:
    """Engine-chosen outcome counts per (regime, action) over the experience window."""

    def __init__(self, policy: Policy, actions: Sequence[str]) -> None:
        self.actions = tuple(actions)
        self.index = {name: i for i, name in enumerate(self.actions)}
        self._tests = [(r.signal, _COMPARE[r.op], float(r.threshold)) for r in policy.rules]
        self._array_tests = [
            (r.signal, _COMPARE_ARRAY[r.op], float(r.threshold)) for r in policy.rules
        ]
        self.counts: npt.NDArray[np.float64] = np.zeros((2, len(self.actions)))
        """counts[regime, action]: outcomes of `action` in that regime."""
        self._supported: dict[tuple[int, int], list[bool]] = {}
        """(regime, min_samples) -> `supported`'s answer; emptied whenever the counts change
        (a decision asks far more often than an outcome arrives)."""

    def regime(self, signals: Mapping[str, float]) -> int:
        """`ALARM` when some rule's condition holds on this window alone, else `QUIET`."""
        for signal, compare, threshold in self._tests:
            if compare(float(signals.get(signal, 0.0)), threshold):
                return ALARM
        return QUIET

    def add(self, signals: Mapping[str, float], action: str, weight: float = 1.0) -> None:
        """Count (weight 1) or forget (weight -1) one outcome of `action`."""
        j = self.index.get(action)
        if j is not None:
            self.counts[self.regime(signals), j] += weight
            self._supported.clear()

    def rebuild(self, experiences: Iterable[tuple[Mapping[str, float], str]]) -> None:
        """Recount from (signals, action) pairs."""
        self.counts[:] = 0.0
        self._supported.clear()
        for signals, action in experiences:
            self.add(signals, action)

    def supported(self, signals: Mapping[str, float], min_samples: int) -> list[bool]:
        """Per action: at least `min_samples` outcomes in the regime of `signals` (a cached list:
        read it, do not modify it)."""
        key = (self.regime(signals), min_samples)
        answer = self._supported.get(key)
        if answer is None:
            answer = self._supported[key] = [bool(c >= min_samples) for c in self.counts[key[0]]]
        return answer

    def supported_matrix(
        self, raw: npt.NDArray[np.float64], min_samples: int
    ) -> npt.NDArray[np.bool_]:
        """`supported` for an (n, 10) array of raw signals in `SIGNAL_NAMES` order -> (n, K)."""
        enough = self.counts >= min_samples
        return enough[self.alarm_matrix(raw).astype(np.intp)]

    def alarm_matrix(self, raw: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        """(n,) whether each row of an (n, 10) array of raw signals is in the `ALARM` regime."""
        alarm = np.zeros(raw.shape[0], dtype=bool)
        for signal, compare, threshold in self._array_tests:
            # A rule on a signal outside SIGNAL_NAMES reads 0, as `regime` does.
            column = raw[:, _COLUMN[signal]] if signal in _COLUMN else np.zeros(raw.shape[0])
            alarm |= compare(column, threshold)
        return alarm
