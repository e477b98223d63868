"""Small presentation helpers for the templates."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from dashboard.views.assets import PLOTLY_VERSION

register = template.Library()
DASH = "\u2013"  # en dash: "no value"


@register.simple_tag
def plotly_script() -> SafeString:
    """The app's own plotly.js (versioned URL, cached for a year)."""
    return format_html(
        '<script src="{}?v={}" defer></script>', reverse("plotly-js"), PLOTLY_VERSION
    )


@register.filter
def state_label(value: Any) -> str:
    return str(value or "").replace("_", " ")


@register.filter
def pct(value: Any) -> str:
    try:
        return f"{float(value):.0%}"
    except (TypeError, ValueError):
        return DASH


@register.filter
def num(value: Any, digits: int = 3) -> str:
    """A number with `digits` significant digits; a dash for nothing."""
    if value is None or value == "":
        return DASH
    try:
        return f"{float(value):.{int(digits)}g}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def money(value: Any) -> str:
    """A cost or net value with one decimal (sign kept), a dash for nothing."""
    if value is None:
        return DASH
    try:
        return f"{float(value):,.1f}"
    except (TypeError, ValueError):
        return str(value)
