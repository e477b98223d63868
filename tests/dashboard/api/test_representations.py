"""The decision's hand-written representation says exactly what DRF's generic one would.

`DecisionSerializer`, `ReviewSerializer` and `ExecutionSerializer` write their fields out
directly (the generic loop rebuilt ~30 field objects per decision). Their declared fields and
`Meta.fields` still define the schema, so the generic representation is the reference: every
field, value and type must match it, in every state a decision can be in.
"""

from datetime import timedelta

import pytest
from rest_framework import serializers

from dashboard.api import serializers as s
from dashboard.models import Decision, DecisionState

pytestmark = pytest.mark.django_db


def generic(serializer_class, instance):
    """What `ModelSerializer`'s own loop makes of `instance` (nested serializers included)."""
    serializer = serializer_class(instance)
    data = dict(serializers.ModelSerializer.to_representation(serializer, instance))
    if serializer_class is s.DecisionSerializer:
        data["reviews"] = [generic(s.ReviewSerializer, r) for r in instance.reviews.all()]
        execution = getattr(instance, "execution", None)
        data["execution"] = generic(s.ExecutionSerializer, execution) if execution else None
    return data


def assert_same(serializer_class, instance):
    fast = serializer_class(instance).data
    reference = generic(serializer_class, instance)
    assert list(fast) == list(reference) == serializer_class.Meta.fields
    for name, value in reference.items():
        assert fast[name] == value, name
        assert type(fast[name]) is type(value), name


def url(decision, verb):
    return f"/api/v1/decisions/{decision.pk}/{verb}/"


def test_it_represents_a_pending_decision_as_the_generic_serializer(pending):
    assert_same(s.DecisionSerializer, Decision.objects.get(pk=pending.pk))


def test_it_represents_an_executed_decision_with_reviews_as_the_generic_serializer(
    api, users, make_decision, django_capture_on_commit_callbacks
):
    decision = make_decision(requested_by=users["ada"])
    Decision.objects.filter(pk=decision.pk).update(approvals_required=2)
    api["otto"].post(url(decision, "approve"), {"comment": "first"}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        api["olga"].post(url(decision, "approve"), {}, format="json")
    api["otto"].post(
        url(decision, "outcome"), {"success": True, "benefit": 30, "cost": 10}, format="json"
    )
    done = Decision.objects.get(pk=decision.pk)
    assert done.state == DecisionState.SUCCEEDED and done.execution is not None
    assert done.reviews.count() == 2 and done.requested_by is not None
    assert_same(s.DecisionSerializer, done)
    for review in done.reviews.all():
        assert_same(s.ReviewSerializer, review)
    assert_same(s.ExecutionSerializer, done.execution)


def test_it_represents_nulls_and_a_followed_decision_as_the_generic_serializer(make_decision):
    first = make_decision()
    second = make_decision()
    Decision.objects.filter(pk=second.pk).update(
        follows=first, propensity=None, health_check=None, outcome={"success": False}
    )
    decision = Decision.objects.get(pk=second.pk)
    assert_same(s.DecisionSerializer, decision)
    decision.expires_at = None
    decision.decided_at = decision.created_at.replace(microsecond=0) + timedelta(microseconds=7)
    assert_same(s.DecisionSerializer, decision)


def test_the_list_answers_with_the_same_representation(api, pending):
    listed = api["vera"].get("/api/v1/decisions/").json()["results"][0]
    assert listed == generic(s.DecisionSerializer, Decision.objects.get(pk=pending.pk))
