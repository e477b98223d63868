"""Schema fuzzing of the REST API per role.

Schemathesis generates requests from the OpenAPI schema the app serves (valid and invalid
bodies, query strings and path parameters, some aimed at rows that exist) and sends them
in-process to the WSGI application on the test database, once per role. Every answer must be
a non-5xx that conforms to the schema (status, content type, body), and no role may reach
beyond itself: anonymous callers get 401/403 everywhere, a viewer never changes state, an
operator never edits policies or pipelines.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import Resolver404, resolve
from drf_spectacular.generators import SchemaGenerator
from hypothesis import given
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dashboard.models import PolicyVersion
from dashboard.wsgi import application
from tests.reliability.hostile_world import (
    World,
    build_world,
    fuzz_settings,
    state_digest,
    table_digest,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
SAFE = {"GET", "HEAD", "OPTIONS"}
# Writes that only a policy admin may make: policies, and registering or editing pipelines.
ADMIN_ONLY = (
    ("POST", "/api/v1/policies/"),
    ("POST", "/api/v1/policies/validate/"),
    ("POST", "/api/v1/policies/{id}/activate/"),
    ("POST", "/api/v1/policies/{id}/replay/"),
    ("POST", "/api/v1/pipelines/"),
    ("PUT", "/api/v1/pipelines/{name}/"),
    ("PATCH", "/api/v1/pipelines/{name}/"),
)
CI_EXAMPLES = 6
FULL_EXAMPLES = 20


@pytest.fixture
def in_process_requests() -> Iterator[None]:
    """Requests sent straight to the WSGI app share the test's connection and transaction:
    keep Django from closing it at the end of each request (as its test client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(db: Any, in_process_requests: None) -> World:
    return build_world()


def api_schema() -> Any:
    """The schema exactly as `/api/schema/` serves it, loaded for in-process calls."""
    raw = SchemaGenerator().get_schema(request=None, public=True)
    schema = schemathesis.openapi.from_dict(_plain(raw))
    schema.app = application
    return schema


def _plain(value: Any) -> Any:
    """drf-spectacular's lazy strings and ordered dicts as plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool | int | float) or value is None:
        return value
    return str(value)


def real_targets(world: World) -> dict[str, Any]:
    return {"id": world.decision.pk, "name": world.pipeline.name}


def fuzz_role(role: str, world: World, examples: int) -> dict[str, Any]:
    """Fuzz every operation as `role` (None: anonymous); returns what it saw."""
    schema = api_schema()
    headers = {"Authorization": f"Token {world.tokens[role]}"} if role != "anonymous" else {}
    statuses: Counter[int] = Counter()
    worst = 0.0
    calls = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        method = operation.method.upper()
        targets = {k: v for k, v in real_targets(world).items() if k in _path_names(operation.path)}
        if "{id}" in operation.path and "/policies/" in operation.path:
            targets["id"] = world.policy.pk
        strategy = st.one_of(
            operation.as_strategy(schemathesis.GenerationMode.POSITIVE, headers=headers),
            operation.as_strategy(schemathesis.GenerationMode.NEGATIVE, headers=headers),
            operation.as_strategy(
                schemathesis.GenerationMode.POSITIVE, headers=headers, path_parameters=targets
            ),
        )

        @fuzz_settings(examples)
        @given(case=strategy)
        def run(case: Any) -> None:
            nonlocal worst, calls
            before = state_digest()
            policies_before = table_digest(PolicyVersion)
            started = time.perf_counter()
            response = case.call()
            worst = max(worst, time.perf_counter() - started)
            calls += 1
            statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS)
            label = f"{role}: {case.operation.label} -> {response.status_code}"
            refused = (401, 403) if routed(response) else (404,)
            if role == "anonymous":
                assert response.status_code in refused, label
                assert state_digest() == before, label
            elif role == "viewer":
                if method not in SAFE:
                    assert response.status_code in refused, label
                assert state_digest() == before, label
            elif role == "operator":
                if (method, operation.path) in ADMIN_ONLY:
                    assert response.status_code in refused, label
                    assert state_digest() == before, label
                assert table_digest(PolicyVersion) == policies_before, label

        try:
            run()
        except Exception as err:  # every operation is fuzzed; all failures are reported
            failures.append(f"{operation.label}: {err}")
    return {"calls": calls, "statuses": statuses, "worst": worst, "failures": failures}


def routed(response: Any) -> bool:
    """Whether the URL asked for reaches one of the schema's operations. A fuzzed path
    parameter may match no route (`1/2`: Django answers 404 before any view) or DRF's
    undocumented format-suffix route (`5.xyz`: 404 for the unknown format, before
    authentication); both reveal nothing."""
    try:
        match = resolve(unquote(urlsplit(response.request.url).path))
    except Resolver404:
        return False
    return "format" not in match.kwargs


def _path_names(path: str) -> set[str]:
    return {part[1:-1] for part in path.split("/") if part.startswith("{")}


def _figure(seen: dict[str, Any]) -> str:
    codes = ", ".join(f"{code}×{n}" for code, n in sorted(seen["statuses"].items()))
    slowest = seen["worst"] * 1000
    calls = seen["calls"]
    return f"{calls} requests, no 5xx, all conform; statuses {codes}; slowest {slowest:.0f} ms"


def check_role(role: str, world: World, reliability: Any, examples: int) -> None:
    seen = fuzz_role(role, world, examples)
    assert not seen["failures"], "\n\n".join(seen["failures"])
    assert not any(code >= 500 for code in seen["statuses"])
    reliability(
        did=f"schemathesis, {examples} examples per operation (valid, invalid, real ids) as {role}",
        figure=_figure(seen),
    )


@pytest.mark.parametrize("role", ["anonymous", "viewer", "operator", "policy_admin"])
def test_it_answers_fuzzed_requests_within_the_schema_and_the_role(role, world, reliability):
    """Fuzzed API requests per role: no 5xx, schema-conformant, nothing beyond the role"""
    check_role(role, world, reliability, CI_EXAMPLES)


@pytest.mark.heavy
@pytest.mark.parametrize("role", ["anonymous", "viewer", "operator", "policy_admin"])
def test_it_survives_many_fuzzed_requests_per_role(role, world, reliability):
    """Many fuzzed API requests per role: no 5xx, schema-conformant, nothing beyond the role"""
    check_role(role, world, reliability, FULL_EXAMPLES)
