import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cacheops", "0002_families"),
    ]

    operations = [
        migrations.AddField(
            model_name="pendingchange",
            name="items",
            field=models.JSONField(default=list),
        ),
        migrations.AddField(
            model_name="pendingchange",
            name="taken_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="changes_taken",
                to="cacheops.operation",
            ),
        ),
        migrations.AddField(
            model_name="pendingchange",
            name="taken_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
