"""Telling people: a decision needs review, or an action failed.

Per pipeline: a Slack-compatible webhook (`{"text": ...}`) and/or e-mail through Django's mail
backend. Sending happens in a task after commit, never inside a request or a transaction.
"""

from __future__ import annotations

import logging

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from dashboard.models import Decision
from dashboard.services.engine import PIPELINE_BULK_FIELDS

logger = logging.getLogger(__name__)


def _decision(decision_id: int) -> Decision | None:
    # The pipeline's reference profile can be hundreds of kilobytes: leave it in the database.
    return (
        Decision.objects.select_related("pipeline")
        .defer(*(f"pipeline__{name}" for name in PIPELINE_BULK_FIELDS))
        .filter(pk=decision_id)
        .first()
    )


def _link(path: str) -> str:
    base = getattr(settings, "SELFHEAL_BASE_URL", "").rstrip("/")
    return f"{base}{path}" if base else path


def _send(decision: Decision, subject: str, text: str) -> list[str]:
    pipeline = decision.pipeline
    sent = []
    if pipeline.notify_webhook_url:
        try:
            response = requests.post(pipeline.notify_webhook_url, json={"text": text}, timeout=5)
            response.raise_for_status()
            sent.append("webhook")
        except requests.RequestException as exc:
            logger.warning("notification webhook for %s failed: %s", pipeline.name, exc)
    emails = [e for e in (pipeline.notify_emails or []) if isinstance(e, str) and "@" in e]
    if emails:
        send_mail(subject, text, None, emails, fail_silently=False)
        sent.append("email")
    return sent


def notify_review_needed(*, decision_id: int) -> list[str]:
    """Announce a pending decision to the pipeline's channels; returns the channels used."""
    decision = _decision(decision_id)
    if decision is None:
        return []
    reasons = "; ".join(decision.approval_reasons) or "the policy asks for a review"
    text = (
        f"Selfheal: {decision.pipeline.name} needs a decision — proposed {decision.action} "
        f"(cost {decision.cost:g}, confidence {decision.confidence:.2f}). Why review: {reasons}. "
        f"Review: {_link(reverse('decision-detail', args=[decision.pk]))}"
    )
    return _send(decision, f"[Selfheal] review {decision.action} on {decision.pipeline.name}", text)


def notify_failure(*, decision_id: int) -> list[str]:
    decision = _decision(decision_id)
    if decision is None:
        return []
    error = (decision.outcome or {}).get("error", "")
    text = (
        f"Selfheal: {decision.action} on {decision.pipeline.name} failed ({error}). "
        f"Details: {_link(reverse('decision-detail', args=[decision.pk]))}"
    )
    return _send(decision, f"[Selfheal] {decision.action} failed on {decision.pipeline.name}", text)
