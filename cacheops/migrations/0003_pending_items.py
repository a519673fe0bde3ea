from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("cacheops", "0002_families"),
    ]

    operations = []
