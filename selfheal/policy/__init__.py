"""Policies: YAML -> validated `Policy`; rule evaluation; guards."""
