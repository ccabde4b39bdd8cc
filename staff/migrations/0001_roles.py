from django.db import migrations


def create_roles(apps, schema_editor):
    # Permissions are normally created after migrate (post_migrate); the groups need them now.
    from django.apps import apps as live_apps
    from django.contrib.auth.management import create_permissions

    for app_config in live_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=schema_editor.connection.alias)

    from staff.roles import roles_sync

    roles_sync(apps)
    # The demo's earlier call-center group is replaced by the two call-center roles.
    apps.get_model("auth", "Group").objects.filter(name="コールセンター").delete()


def drop_roles(apps, schema_editor):
    from staff.roles import Role

    apps.get_model("auth", "Group").objects.filter(name__in=[role.label for role in Role]).delete()


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("axes", "0010_accessattemptexpiration"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("coupons", "0005_ledger_change"),
        ("claims", "0004_run_checkpoint"),
        ("callcenter", "0001_initial"),
        ("notifications", "0001_outbox"),
        ("otp_totp", "0003_add_timestamps"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [
        migrations.CreateModel(
            name="LoginLockout",
            fields=[],
            options={
                "verbose_name": "ログインのロック",
                "verbose_name_plural": "ログインのロック",
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("axes.accessattempt",),
        ),
        migrations.RunPython(create_roles, drop_roles),
    ]
