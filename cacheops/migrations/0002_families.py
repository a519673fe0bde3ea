from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cacheops", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="Family",
            fields=[
                ("name", models.CharField(max_length=80, primary_key=True, serialize=False)),
                ("current_version", models.CharField(blank=True, max_length=16)),
                ("previous_version", models.CharField(blank=True, max_length=16)),
                ("generation", models.PositiveBigIntegerField(default=0)),
                ("published_generation", models.PositiveBigIntegerField(default=0)),
                ("staged_version", models.CharField(blank=True, max_length=16)),
                ("next_boundary", models.DateTimeField(blank=True, null=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
        ),
    ]
