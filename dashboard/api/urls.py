from django.urls import path

from dashboard.api import views

app_name = "api"
urlpatterns = [
    path("policies/", views.PolicyVersionList.as_view(), name="policy-list"),
]
