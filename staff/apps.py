from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.db.models.signals import post_migrate


class StaffAdminConfig(AdminConfig):
    # Django's documented way to replace the default admin site: every app's admin.register
    # lands on the staff site, which requires a verified second factor.
    default_site = "staff.sites.StaffAdminSite"


class StaffConfig(AppConfig):
    name = "staff"
    verbose_name = "職員とサインイン"

    def ready(self) -> None:
        from staff import signals  # noqa: F401  (login time for the absolute session timeout)

        post_migrate.connect(_sync_roles, sender=self)


def _sync_roles(sender, **kwargs) -> None:
    # After every migrate (and after a test flush, which re-emits post_migrate), the groups hold
    # exactly what staff.roles declares; the auditor also sees models added since the last run.
    from django.apps import apps as live_apps
    from django.contrib.auth.management import create_permissions

    from staff.roles import roles_sync

    for app_config in live_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=kwargs.get("using", "default"))
    roles_sync(live_apps)
