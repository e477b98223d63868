"""Selfheal's control plane: the Django project and its app."""

from dashboard.celery import app as celery_app

__all__ = ["celery_app"]
