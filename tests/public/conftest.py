import io

import pytest
from django.core.management import call_command

from incidents.models import Incident


@pytest.fixture
def demo_incident(db):
    call_command("loaddemo", stdout=io.StringIO())
    return Incident.objects.get(page__subdomain="landbot")
