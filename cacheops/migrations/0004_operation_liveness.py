from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cacheops", "0003_pending_items"),
    ]

    operations = [
        migrations.AddField(
            model_name="operation",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="last sign of life"),
        ),
        migrations.AddIndex(
            model_name="operation",
            index=models.Index(fields=["result", "heartbeat_at"], name="cacheops_op_unfinished"),
        ),
    ]
