"""Hostile input at the web front door.

Forged browser forms (no CSRF token), floods of verdicts and password guesses, policy YAML
bombs and fuzzed telemetry payloads: each must be refused with the answer a client can act on
(403, 429 with Retry-After, 400 naming the field or line), change nothing, and cost bounded
time and memory.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from dashboard.models import AuditEvent, Decision, DecisionState, PolicyVersion, TelemetryWindow
from dashboard.throttling import ConfiguredRateThrottle, LoginFailureThrottle, ReviewThrottle
from tests.factories import PASSWORD, make_pending
from tests.reliability.hostile_world import (
    World,
    audit_count,
    build_world,
    fuzz_settings,
    state_digest,
)

# Pages a browser can POST to are every route outside the API, the admin and the probes.
NOT_PAGES = ("api", "admin", "api-docs", "schema", "healthz", "readyz", "metrics", "plotly-js")


@pytest.fixture
def world(db: Any) -> World:
    return build_world()


def api_as(world: World, role: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[role]}")
    return client


def measured(call: Callable[[], Any]) -> tuple[Any, float, int]:
    """(result, seconds, peak bytes allocated by Python meanwhile)."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = call()
    finally:
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return result, seconds, peak


# --- CSRF ------------------------------------------------------------------------------------


def page_routes(resolver: URLResolver | None = None, prefix: str = "") -> list[URLPattern]:
    """Every named page route (walks the URL map, so a new page is covered automatically)."""
    found = []
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            continue  # the API and the admin: checked elsewhere / Django's own
        if entry.name and entry.name not in NOT_PAGES:
            found.append(entry)
    return found


def page_url(route: URLPattern, world: World) -> str:
    names = set(route.pattern.converters)  # type: ignore[attr-defined]
    kwargs: dict[str, Any] = {}
    if "pk" in names:
        kwargs["pk"] = world.decision.pk
    if "name" in names:
        kwargs["name"] = world.policy.name if route.name.startswith("policy") else "churn-model"
    if "number" in names:
        kwargs["number"] = world.policy.number
    return reverse(route.name, kwargs=kwargs)


def form_data(world: World) -> dict[str, str]:
    """A body every form would accept, so only the missing token can be the reason to refuse."""
    return {
        "comment": "forged",
        "action": "rollback",
        "text": world.policy.text,
        "intent": "save",
        f"verdict_{world.decision.pk}": "approve",
        "username": "ada",
        "password": PASSWORD,
    }


def test_it_refuses_every_form_post_without_a_csrf_token(world, reliability):
    """Every page POST without a CSRF token is refused with 403 and changes nothing"""
    routes = page_routes()
    assert {"decision-approve", "policy-edit", "queue-bulk", "login", "logout"} <= {
        r.name for r in routes
    }
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(world.users["policy_admin"])
    before, audits = state_digest(), AuditEvent.objects.count()
    refused = []
    for route in routes:
        response = browser.post(page_url(route, world), form_data(world))
        assert response.status_code == 403, f"{route.name}: {response.status_code}"
        refused.append(route.name)
    # The API's cookie sessions are held to the same rule (a token header is not a cookie).
    response = browser.post(f"/api/v1/decisions/{world.decision.pk}/approve/", {})
    assert response.status_code == 403
    assert state_digest() == before
    assert AuditEvent.objects.count() == audits
    # Control: the same form with its token goes through, so the 403s were the token's doing.
    token = browser.get(reverse("decision-detail", args=[world.decision.pk])).cookies["csrftoken"]
    response = browser.post(
        reverse("decision-approve", args=[world.decision.pk]),
        {"comment": "fine", "csrfmiddlewaretoken": token.value},
    )
    assert response.status_code in (200, 302)
    assert Decision.objects.get(pk=world.decision.pk).state != DecisionState.PENDING_APPROVAL
    reliability(
        did=f"POST without a token to all {len(refused)} page routes (walked from the URL map) "
        "and to the API with a session cookie, as a policy admin",
        figure=f"{len(refused) + 1}/{len(refused) + 1} refused with 403, nothing changed; "
        "with the token the verdict went through",
    )


# --- Throttling ------------------------------------------------------------------------------


def forget(throttle_key: str) -> None:
    """Start a check from an empty window (the cache may be Redis, shared with other runs)."""
    cache.delete(throttle_key)


def forget_verdicts(user: Any) -> None:
    """Start from an empty review count for `user` in the current window."""
    request = type("Request", (), {"user": user, "META": {}})()
    found = ReviewThrottle().counter_key(request)
    if found is not None:
        forget(found[0])


@pytest.fixture
def frozen_limits(monkeypatch: pytest.MonkeyPatch) -> float:
    """The rate limits' clock, held 10 s into a one-minute window (no window turns mid-test)."""
    now = (time.time() // 60) * 60 + 10
    monkeypatch.setattr(ConfiguredRateThrottle, "timer", lambda self: now)
    return now


def test_it_throttles_verdicts_in_the_api_and_the_pages(
    world, reliability, settings, frozen_limits
):
    """Verdicts past the review rate get 429 with Retry-After (API and pages, counted together)"""
    settings.SELFHEAL_THROTTLE_RATES = {**settings.SELFHEAL_THROTTLE_RATES, "review": "4/minute"}
    operator = world.users["operator"]
    forget_verdicts(operator)
    decisions = [make_pending(world.pipeline, world.policy) for _ in range(5)]
    api = api_as(world, "operator")
    page = Client()
    page.force_login(operator)
    answers = [
        api.post(f"/api/v1/decisions/{decisions[0].pk}/approve/", {}, format="json"),
        api.post(f"/api/v1/decisions/{decisions[1].pk}/reject/", {"comment": "no"}, format="json"),
        page.post(reverse("decision-approve", args=[decisions[2].pk]), {"comment": ""}),
        page.post(reverse("decision-reject", args=[decisions[3].pk]), {"comment": "no"}),
    ]
    assert [a.status_code for a in answers] == [200, 200, 302, 302]
    before = state_digest()
    over = [
        api.post(
            f"/api/v1/decisions/{decisions[4].pk}/override/",
            {"action": "rollback"},
            format="json",
        ),
        page.post(reverse("decision-approve", args=[decisions[4].pk]), {"comment": ""}),
        page.post(
            reverse("decision-approve", args=[decisions[4].pk]),
            {"comment": ""},
            HTTP_HX_REQUEST="true",
        ),
    ]
    assert [a.status_code for a in over] == [429, 429, 429]
    waits = [int(a["Retry-After"]) for a in over]
    assert all(1 <= w <= 60 for w in waits), waits
    assert state_digest() == before
    assert Decision.objects.get(pk=decisions[4].pk).state == DecisionState.PENDING_APPROVAL
    # Another operator is not held back by this one's rate.
    forget_verdicts(world.users["policy_admin"])
    other = api_as(world, "policy_admin").post(
        f"/api/v1/decisions/{decisions[4].pk}/approve/", {}, format="json"
    )
    assert other.status_code == 200
    forget_verdicts(operator)
    reliability(
        did="rate 4/minute; 2 API + 2 page verdicts, then a 5th by API, page and htmx",
        figure=f"first 4 answered 200/302; the next 3 got 429, Retry-After {max(waits)} s, "
        "nothing changed; another user unaffected",
    )


def fresh_address() -> str:
    """A client address no earlier run has used (the counts may live in a shared Redis)."""
    return f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(256)}"


def test_it_throttles_failed_logins_per_address(world, reliability, settings, frozen_limits):
    """Failed logins past the login rate get 429 with Retry-After, even with the right password"""
    settings.SELFHEAL_THROTTLE_RATES = {**settings.SELFHEAL_THROTTLE_RATES, "login": "3/minute"}
    world.users["policy_admin"].set_password(PASSWORD)
    world.users["policy_admin"].save()
    address = fresh_address()
    browser = Client(REMOTE_ADDR=address)
    url = reverse("login")
    good = {"username": "ada", "password": PASSWORD}
    assert browser.post(url, good).status_code == 302  # successes do not count
    browser.logout()
    guesses = [browser.post(url, {"username": "ada", "password": f"guess-{i}"}) for i in range(3)]
    assert [g.status_code for g in guesses] == [200, 200, 200]
    refused = browser.post(url, good)
    assert refused.status_code == 429
    wait = int(refused["Retry-After"])
    assert wait == 50  # the rest of the window
    assert "_auth_user_id" not in browser.session
    # A forged X-Forwarded-For does not buy a fresh address (no proxy is trusted by default).
    assert browser.post(url, good, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 429
    # Another address logs in as usual.
    assert Client(REMOTE_ADDR=fresh_address()).post(url, good).status_code == 302
    # The admin's own login form is not a way around the limit: it is the same page.
    admin_login = browser.get("/admin/login/?next=/admin/")
    assert admin_login.status_code == 302
    assert admin_login["Location"] == f"{url}?next=/admin/"
    reliability(
        did="rate 3/minute: a good login, 3 wrong passwords, then the right one (and a forged "
        "X-Forwarded-For) from the same address; the admin's login URL",
        figure=f"429 with Retry-After {wait} s, not logged in; another address unaffected; "
        "/admin/login/ redirects to the limited login page",
    )


needs_redis_cache = pytest.mark.skipif(
    not settings.CACHES["default"]["BACKEND"].endswith("RedisCache"),
    reason="exact under concurrency with Redis only (the file cache's increment is not atomic)",
)


def let_through_at_once(throttle: type[ConfiguredRateThrottle], settings: Any) -> int:
    """How many of 50 requests from one client, released at once at a limit of 5/minute, the
    throttle lets through."""
    settings.SELFHEAL_THROTTLE_RATES = {
        **settings.SELFHEAL_THROTTLE_RATES,
        throttle.scope: "5/minute",
    }
    request = RequestFactory().post("/", REMOTE_ADDR=fresh_address())
    request.user = AnonymousUser()  # the review limit counts the anonymous per address
    start = threading.Barrier(50)

    def attempt() -> bool:
        limit = throttle()
        start.wait()
        return limit.allows(request)

    with ThreadPoolExecutor(max_workers=50) as pool:
        return sum(pool.map(lambda _: attempt(), range(50)))


@needs_redis_cache
def test_it_limits_concurrent_login_guesses(reliability, settings, frozen_limits):
    """Fifty wrong passwords from one address at once: no more than the limit are tried"""
    tried = let_through_at_once(LoginFailureThrottle, settings)
    assert tried == 5
    reliability(
        did="rate 5/minute: 50 login attempts from one address released at once (50 threads, "
        "the limit's counter in Redis)",
        figure=f"{tried} tried, {50 - tried} refused with 429",
    )


@needs_redis_cache
def test_it_limits_concurrent_verdicts(reliability, settings, frozen_limits):
    """Fifty verdicts from one client at once: no more than the limit get through"""
    through = let_through_at_once(ReviewThrottle, settings)
    assert through == 5
    reliability(
        did="rate 5/minute: 50 verdicts from one client released at once (50 threads, the "
        "limit's counter in Redis)",
        figure=f"{through} let through, {50 - through} refused with 429",
    )


def test_it_leaves_twenty_concurrent_clients_unthrottled_by_default(world, reliability):
    """The default review rate lets a 20-client benchmark on one token run unthrottled"""
    from django.conf import settings as django_settings

    operator = world.users["operator"]
    forget_verdicts(operator)
    request = type("Request", (), {"user": operator, "META": {"REMOTE_ADDR": "127.0.0.1"}})()
    allowed = 0
    while ReviewThrottle().allows(request):  # type: ignore[arg-type]
        allowed += 1
        assert allowed <= 100_000
    forget_verdicts(operator)
    rate = django_settings.SELFHEAL_THROTTLE_RATES["review"]
    # The fleet benchmark sends ~500 approvals within a minute from 20 clients on one token.
    assert allowed >= 500
    reliability(
        did=f"default review rate {rate}: verdicts one user may send in one burst",
        figure=f"{allowed} allowed before the first 429 (the fleet benchmark needs ~500)",
    )


# --- Policy YAML bombs -----------------------------------------------------------------------

BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{c}: &{c} [{','.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]
)
BOMBS = {
    "billion laughs": BILLION_LAUGHS,
    "1 MB document": "actions:\n" + "  # padding\n" * (1024 * 1024 // 12),
    "deep nesting": "".join(f"{' ' * i}k{i}:\n" for i in range(300)) + " " * 300 + "x: 1\n",
    "deep flow nesting": "[" * 50_000 + "]" * 50_000,
    "duplicate keys": "version: 1\nversion: 2\nactions: {}\npolicies: {}\n",
    "python tag": "actions: !!python/object/apply:os.system ['echo pwned']\npolicies: {}\n",
}


def refused_by_api(world: World, text: str) -> tuple[Any, float, int]:
    api = api_as(world, "policy_admin")
    return measured(
        lambda: api.post(
            "/api/v1/policies/", {"name": "default", "text": text, "comment": "x"}, format="json"
        )
    )


TEN_MB = "actions:\n" + "  # padding\n" * (10 * 1024 * 1024 // 12)


def test_it_refuses_policy_yaml_bombs_quickly_and_stores_nothing(world, reliability):
    """Policy YAML bombs get a 400 naming field and line, store nothing and are audited"""
    page = Client()
    page.force_login(world.users["policy_admin"])
    worst_time, worst_memory, seen = 0.0, 0, []
    # Warm up both paths, so the figures are the bombs' and not the first request's imports.
    refused_by_api(world, BOMBS["duplicate keys"])
    page.post(reverse("policy-edit", args=["default"]), {"text": "x: [", "intent": "check"})
    for name, text in BOMBS.items():
        versions, rejected = PolicyVersion.objects.count(), audit_count("policy.rejected")
        response, seconds, peak = refused_by_api(world, text)
        assert response.status_code == 400, (name, response.status_code, response.content[:300])
        problems = response.json().get("problems")
        assert problems and all(p["field"] and p["line"] >= 1 for p in problems), name
        html, page_seconds, page_peak = measured(
            lambda text=text: page.post(
                reverse("policy-edit", args=["default"]), {"text": text, "intent": "save"}
            )
        )
        assert html.status_code == 400, (name, html.status_code)
        assert 'data-testid="problems"' in html.content.decode(), name
        assert PolicyVersion.objects.count() == versions, name
        assert audit_count("policy.rejected") == rejected + 2, name
        if max(seconds, page_seconds) > worst_time:
            worst_time, slowest = max(seconds, page_seconds), name
        worst_memory = max(worst_memory, peak, page_peak)
        seen.append(f"{name}: {problems[0]['message'][:50]}")
    assert worst_time < 5.0
    assert worst_memory < 256 * 1024 * 1024
    reliability(
        did=f"{len(BOMBS)} bombs ({', '.join(BOMBS)}) through the API and the policy editor",
        figure=f"all 400 with field/line, nothing stored, audited; worst {worst_time:.2f} s "
        f"({slowest}), "
        f"peak Python memory {worst_memory / 2**20:.1f} MiB (tracemalloc, per request)",
    )


def test_it_refuses_a_ten_megabyte_policy_before_reading_it(world, reliability):
    """A 10 MB policy document is refused at the request-size cap, before anything parses it"""
    page = Client()
    page.force_login(world.users["policy_admin"])
    versions, audits = PolicyVersion.objects.count(), AuditEvent.objects.count()
    response, seconds, peak = refused_by_api(world, TEN_MB)
    assert response.status_code == 400
    assert "too large" in response.json()["detail"]
    html, page_seconds, page_peak = measured(
        lambda: page.post(
            reverse("policy-edit", args=["default"]), {"text": TEN_MB, "intent": "save"}
        )
    )
    assert html.status_code == 400
    assert "too large" in html.content.decode()
    assert PolicyVersion.objects.count() == versions
    # Not audited: the request is refused before authentication or any service runs.
    assert AuditEvent.objects.count() == audits
    worst, most = max(seconds, page_seconds), max(peak, page_peak)
    assert worst < 5.0
    assert most < 256 * 1024 * 1024
    reliability(
        did="10 MB policy YAML through the API (JSON) and the policy editor (form)",
        figure=f"both 400 at the 2.5 MB body cap (JSON detail / error page), nothing stored, "
        f"not audited (refused before any view); worst {worst:.2f} s, "
        f"peak {most / 2**20:.1f} MiB",
    )


yaml_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["retrain", "rollback", "none", "data_drift", "1h", "-1", "~", "&a", "*a"]),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(["actions", "policies", "guards", "version", "cost", "signal"])
            | st.text(max_size=10),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)
yaml_texts = st.one_of(
    yaml_values.map(lambda v: yaml.safe_dump(v, allow_unicode=True)),
    st.text(alphabet=st.sampled_from(list("{}[]:-&*!|>'\"#%@` \n\tab01.,?~")), max_size=300),
)


def fuzz_policies(world: World, examples: int) -> dict[str, Any]:
    api = api_as(world, "policy_admin")
    stats = {"n": 0, "worst": 0.0, "peak": 0}
    versions = PolicyVersion.objects.count()

    @fuzz_settings(examples)
    @given(text=yaml_texts)
    def run(text: str) -> None:
        rejected = audit_count("policy.rejected")
        response, seconds, peak = measured(
            lambda: api.post("/api/v1/policies/", {"name": "fuzzed", "text": text}, format="json")
        )
        assert response.status_code == 400, (text, response.status_code, response.content)
        body = response.json()
        assert body.get("problems") or body.get("text"), body
        for p in body.get("problems", []):
            assert p["field"] and p["line"] >= 1, p
        if body.get("problems"):
            assert audit_count("policy.rejected") == rejected + 1
        assert PolicyVersion.objects.count() == versions
        stats["n"] += 1
        stats["worst"] = max(stats["worst"], seconds)
        stats["peak"] = max(stats["peak"], peak)

    run()
    return stats


def check_policy_fuzz(world: World, reliability: Any, examples: int) -> None:
    stats = fuzz_policies(world, examples)
    reliability(
        did=f"Hypothesis: {stats['n']} generated YAML documents (random structures and "
        "YAML-syntax noise) posted as policies",
        figure=f"all 400 with field/line, nothing stored; worst {stats['worst'] * 1000:.0f} ms, "
        f"peak {stats['peak'] / 2**20:.1f} MiB",
    )


def test_it_answers_generated_policy_yaml_with_validation_errors(world, reliability):
    """Generated policy YAML gets validation errors only"""
    check_policy_fuzz(world, reliability, 60)


@pytest.mark.heavy
def test_it_answers_many_generated_policy_documents_with_validation_errors(world, reliability):
    """Many generated policy YAML documents get validation errors only"""
    check_policy_fuzz(world, reliability, 500)


# --- Telemetry fuzzing -----------------------------------------------------------------------

ROWS = 30


def _base_window() -> dict[str, Any]:
    return {
        "features": {f"f{i}": [float(r % 7) for r in range(ROWS)] for i in range(3)},
        "predictions": [r % 2 for r in range(ROWS)],
        "latencies": [50.0] * ROWS,
        "requests": ROWS,
        "errors": 0,
    }


junk = st.recursive(
    st.none() | st.booleans() | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
    max_leaves=8,
)
bad_numbers = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", str(10**400), "true", '"12"', "null"]
)
hostile_text = st.text(
    alphabet=st.characters(codec="utf-8") | st.sampled_from(["\x00", "\u202e", "\ufeff"]),
    min_size=1,
    max_size=12,
)


@st.composite
def hostile_windows(draw: st.DrawFn) -> str:
    """A JSON body that is a valid window but for one hostile change (so 400 is the only right
    answer): wrong types, NaN/inf, huge numbers, ragged columns, junk, bad unicode, oversize."""
    window = _base_window()
    kind = draw(
        st.sampled_from(
            [
                "features-type",
                "nested-value",
                "bad-number-value",
                "bad-counter",
                "ragged",
                "predictions-length",
                "junk-field",
                "unicode-name",
                "unicode-value",
                "empty",
                "not-object",
            ]
        )
    )
    column = draw(st.sampled_from(["f0", "f1", "f2"]))
    raw_value = None
    if kind == "features-type":
        window["features"] = draw(junk.filter(lambda v: not isinstance(v, dict) or not v))
    elif kind == "nested-value":
        window["features"][column][draw(st.integers(0, ROWS - 1))] = draw(
            st.lists(junk, max_size=2) | st.dictionaries(st.text(max_size=2), junk, max_size=2)
        )
    elif kind == "bad-number-value":
        raw_value = draw(bad_numbers)
        window["features"][column][draw(st.integers(0, ROWS - 1))] = "@@RAW@@"
    elif kind == "bad-counter":
        key = draw(st.sampled_from(["requests", "errors", "infra_failures"]))
        window[key] = "@@RAW@@"
        raw_value = draw(
            st.sampled_from(['"ten"', "-1", "NaN", "Infinity", "1e400", str(10**400), "[1]", "{}"])
        )
    elif kind == "ragged":
        cut = draw(st.integers(0, ROWS - 1))
        window["features"][column] = window["features"][column][:cut]
    elif kind == "predictions-length":
        window["predictions"] = window["predictions"][: draw(st.integers(0, ROWS - 1))]
    elif kind == "junk-field":
        key = draw(st.sampled_from(["predictions", "labels", "latencies", "utilisation"]))
        if key == "utilisation":  # a mapping of resource -> fraction; junk in the fractions
            window[key] = draw(
                junk.filter(lambda v: v is not None and not isinstance(v, dict))
                | st.dictionaries(st.text(max_size=3), junk, min_size=1, max_size=3)
            )
        else:
            window[key] = draw(junk.filter(lambda v: v is not None and not isinstance(v, list)))
    elif kind == "unicode-name":
        name = draw(hostile_text)
        window["features"][name] = [None] * ROWS
    elif kind == "unicode-value":
        window["features"][column][0] = {"\x00" + draw(hostile_text): 1}
    elif kind == "empty":
        window["features"] = {}
    else:
        return json.dumps(draw(st.lists(junk, max_size=3)))
    body = json.dumps(window, ensure_ascii=draw(st.booleans()))
    if raw_value is not None:
        body = body.replace('"@@RAW@@"', raw_value, 1)
    return body


OVERSIZE = {
    "a 400-digit request count": lambda: json.dumps({**_base_window(), "requests": 10**400}),
    "a 400-digit feature value": lambda: json.dumps(
        {**_base_window(), "features": {f"f{i}": [10**400] * ROWS for i in range(3)}}
    ),
    "too many rows": lambda: json.dumps({"features": {"f0": [0.5] * 100_001}}),
    "too many columns": lambda: json.dumps({"features": {f"c{i}": [1.0] for i in range(501)}}),
    "lone surrogate column": lambda: '{"features": {"\\ud800": [1.0, 2.0]}}',
    "NUL in a category": lambda: json.dumps(
        {"features": {"f0": ["a\x00b", "c"]}, "categorical": ["f0"]}
    ),
}


def fuzz_telemetry(world: World, examples: int) -> dict[str, Any]:
    api = api_as(world, "operator")
    url = f"/api/v1/pipelines/{world.pipeline.name}/telemetry/"
    stats = {"n": 0, "worst": 0.0}
    windows = TelemetryWindow.objects.count()

    def send(body: str) -> None:
        started = time.perf_counter()
        response = api.generic("POST", url, body, content_type="application/json")
        stats["worst"] = max(stats["worst"], time.perf_counter() - started)
        stats["n"] += 1
        assert response.status_code == 400, (body[-300:], response.status_code, response.content)
        assert TelemetryWindow.objects.count() == windows

    for make in OVERSIZE.values():
        send(make())

    @fuzz_settings(examples)
    @given(body=hostile_windows())
    def run(body: str) -> None:
        send(body)

    run()
    # Control: the untouched window is accepted, so the 400s were the hostile change's doing.
    ok = api.post(url, _base_window(), format="json")
    assert ok.status_code == 201, ok.content
    return stats


def check_telemetry_fuzz(world: World, reliability: Any, examples: int) -> None:
    stats = fuzz_telemetry(world, examples)
    reliability(
        did=f"{stats['n']} hostile telemetry windows ({len(OVERSIZE)} fixed: oversize, lone "
        "surrogate, NUL; the rest Hypothesis: wrong types, NaN/inf, huge numbers, ragged "
        "columns, junk, unicode)",
        figure=f"all 400, nothing stored; worst {stats['worst'] * 1000:.0f} ms; "
        "the untouched window 201",
    )


def test_it_refuses_hostile_telemetry(world, reliability):
    """Hostile telemetry windows get 400 and store nothing"""
    check_telemetry_fuzz(world, reliability, 80)


@pytest.mark.heavy
def test_it_refuses_many_hostile_telemetry_windows(world, reliability):
    """Many hostile telemetry windows get 400 and store nothing"""
    check_telemetry_fuzz(world, reliability, 800)
