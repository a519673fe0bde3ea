from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("cacheops", "0003_pending_items"),
    ]

    operations = []
