"""The app's configuration: connects the one signal receiver Selfheal needs."""

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_save


def _user_saved(
    sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    """A user was created by someone other than our services or the admin (createsuperuser, a
    shell): put it on the audit trail. Fixture loading (`raw`) is not a creation."""
    if created and not raw:
        from dashboard.services.users import user_record_created_elsewhere

        user_record_created_elsewhere(user=instance)


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Selfheal"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.models import User

        post_save.connect(_user_saved, sender=User, dispatch_uid="selfheal-user-created")
