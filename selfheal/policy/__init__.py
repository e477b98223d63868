"""Policies: YAML -> validated `Policy`; rule evaluation (layer 1); guards (hard limits).

>>> from selfheal.policy import load_policy, evaluate_rules
>>> policy = load_policy(open("policies/default.yaml").read())  # doctest: +SKIP
>>> evaluate_rules(policy, {"data_drift": 0.2}).action  # doctest: +SKIP
'retrain'
"""

from selfheal.policy.dump import dump_policy
from selfheal.policy.errors import PolicyError, PolicyProblem
from selfheal.policy.guards import masked_actions
from selfheal.policy.loader import load_policy, load_policy_file
from selfheal.policy.rules import evaluate_rules

__all__ = [
    "PolicyError",
    "PolicyProblem",
    "dump_policy",
    "evaluate_rules",
    "load_policy",
    "load_policy_file",
    "masked_actions",
]
