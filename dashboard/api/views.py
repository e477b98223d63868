"""API views: thin; reading through selectors, writing through services."""

from rest_framework import generics

from dashboard.api.serializers import PolicyVersionSerializer
from dashboard.models import PolicyVersion


class PolicyVersionList(generics.ListAPIView[PolicyVersion]):
    serializer_class = PolicyVersionSerializer
    queryset = PolicyVersion.objects.select_related("author").order_by("name", "-number")
