"""SMS subscriptions go back to unconfirmed: there is no SMS transport, so none of them can receive anything.

Staff-created SMS subscriptions used to be active at once. Active (and quarantined) ones become unconfirmed,
as new ones now stay (`services.DORMANT_MODES`), so no count or list shows them as receiving updates. The
reverse migration leaves them unconfirmed: which ones were active is not kept, and none was ever sent to.
"""

from django.db import migrations
from django.utils import timezone


def sms_unconfirmed(apps, schema_editor):
    Subscriber = apps.get_model("notifications", "Subscriber")
    Subscriber.objects.filter(mode="sms", state__in=["active", "quarantined"]).update(
        state="unconfirmed", confirmed_at=None, quarantined_at=None, purge_at=None, updated_at=timezone.now()
    )


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0004_delivery_pipeline"),
    ]

    operations = [
        migrations.RunPython(sms_unconfirmed, migrations.RunPython.noop, elidable=True),
    ]
