from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cacheops", "0013_monitoring"),
    ]

    operations = [
        migrations.AddField(
            model_name="trafficminute",
            name="cache_bytes",
            field=models.PositiveBigIntegerField(default=0),
        ),
    ]
