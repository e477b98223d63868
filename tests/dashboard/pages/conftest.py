"""Fixtures for the page tests: a user per role, the shipped policies, a pipeline and a pending
decision built by tests/factories.py, and a logged-in test client per role."""

from __future__ import annotations

import pytest
from django.test import Client

from dashboard.services.engine import controllers_forget
from tests import factories


@pytest.fixture(autouse=True)
def _fresh_engine_cache():
    controllers_forget()
    yield
    controllers_forget()


@pytest.fixture
def users(db):
    return {
        "vera": factories.make_user("vera", "viewer"),
        "otto": factories.make_user("otto", "operator"),
        "olga": factories.make_user("olga", "operator"),
        "ada": factories.make_user("ada", "policy_admin"),
        "alan": factories.make_user("alan", "policy_admin"),
    }


@pytest.fixture
def policies(db):
    return factories.load_policies()


@pytest.fixture
def pipeline(policies):
    return factories.make_pipeline("churn-model")


@pytest.fixture
def pending(pipeline, policies):
    return factories.make_pending(pipeline, policies["default"])


@pytest.fixture
def login(users):
    def as_(name: str) -> Client:
        client = Client()
        client.force_login(users[name])
        return client

    return as_


HTMX = {"HTTP_HX_REQUEST": "true"}
