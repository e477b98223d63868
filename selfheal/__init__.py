"""Selfheal's decision engine: framework-free (numpy and scipy only).

Signals from telemetry, validated YAML policies, a Bayesian linear bandit and the hybrid
controller that combines them. Nothing here imports Django, Celery, DRF or Redis.
"""
