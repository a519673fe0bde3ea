from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("cacheops", "0007_traffic_cache_ops")]

    operations = [
        migrations.CreateModel(
            name="ConsoleTask",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("family", models.CharField(max_length=80)),
                ("kind", models.CharField(max_length=20)),
                ("task_id", models.CharField(blank=True, max_length=255)),
                ("requested_by", models.CharField(blank=True, max_length=150)),
                ("started_at", models.DateTimeField(auto_now_add=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("state", models.CharField(blank=True, max_length=20)),
                ("message", models.TextField(blank=True)),
            ],
            options={
                "default_permissions": (),
                "permissions": [
                    ("rebuild", "Can rebuild a cache family"),
                    ("prewarm", "Can prewarm a cache family"),
                    ("invalidate", "Can invalidate a cache family"),
                    ("purge", "Can purge the current version of a cache family"),
                    ("rollback", "Can roll a cache family back to its previous version"),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(finished_at__isnull=True),
                        fields=("family",),
                        name="cacheops_console_task_running",
                    )
                ],
            },
        ),
    ]
