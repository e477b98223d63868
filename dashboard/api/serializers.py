from django.contrib.auth.models import User
from rest_framework import serializers

from dashboard.models import PolicyVersion


class PolicyVersionSerializer(serializers.ModelSerializer[PolicyVersion]):
    author: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = PolicyVersion
        fields = [
            "id",
            "name",
            "number",
            "digest",
            "author",
            "comment",
            "created_at",
            "is_active",
            "text",
        ]
        read_only_fields = fields
