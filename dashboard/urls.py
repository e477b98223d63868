"""URL map: pages, the versioned API, the schema and docs, and the probes."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from dashboard.views import (
    assets,
    decisions,
    fleet,
    health,
    pipelines,
    policies,
    queue,
    records,
    throttled,
    verdicts,
)

handler400 = "dashboard.views.errors.bad_request"
handler403 = "dashboard.views.errors.forbidden"
handler404 = "dashboard.views.errors.not_found"
handler500 = "dashboard.views.errors.server_error"

urlpatterns = [
    path("", fleet.overview, name="home"),
    path("queue/", queue.queue, name="queue"),
    path("queue/group/", queue.group, name="queue-group"),
    path("queue/bulk/", verdicts.bulk, name="queue-bulk"),
    path("decisions/<int:pk>/", decisions.decision_detail, name="decision-detail"),
    path("decisions/<int:pk>/approve/", verdicts.approve, name="decision-approve"),
    path("decisions/<int:pk>/reject/", verdicts.reject, name="decision-reject"),
    path("decisions/<int:pk>/override/", verdicts.override, name="decision-override"),
    path("pipelines/<slug:name>/", pipelines.pipeline_detail, name="pipeline-detail"),
    path("policies/", policies.policy_list, name="policies"),
    path("policies/<slug:name>/edit/", policies.policy_edit, name="policy-edit"),
    path(
        "policies/<slug:name>/v<int:number>/", policies.policy_version_detail, name="policy-version"
    ),
    path(
        "policies/<slug:name>/v<int:number>/activate/",
        policies.policy_activate,
        name="policy-activate",
    ),
    path("experiences/", records.experiences, name="experiences"),
    path("audit/", records.audit, name="audit"),
    path("assets/plotly.min.js", assets.plotly_js, name="plotly-js"),
    path("login/", throttled.ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The admin signs in through the rate-limited login page, not a form of its own.
    path("admin/login/", RedirectView.as_view(pattern_name="login", query_string=True)),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("dashboard.api.urls")),
]
