"""The management commands that `make run` and operators use: createapikey, ensureadmin."""

import stat
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

from statuspage.models import ApiKey, hash_api_key


def run(*args) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().splitlines()


def test_createapikey_prints_the_key_last_and_stores_only_its_hash(page, other_page):
    lines = run("createapikey", "acme", "--name", "Deploy bot")

    key = lines[-1]
    api_key = ApiKey.objects.get()
    assert api_key.key_hash == hash_api_key(key)
    assert api_key.prefix == key[:8]
    assert api_key.name == "Deploy bot"
    assert list(api_key.pages.all()) == [page]
    assert len(lines) == 2
    assert "Deploy bot" in lines[0] and "acme" in lines[0] and page.pk in lines[0]
    assert key not in lines[0]
    assert all(key not in str(value) for value in ApiKey.objects.values().get().values())


def test_createapikey_finds_the_page_by_id(page):
    key = run("createapikey", page.pk)[-1]

    assert list(ApiKey.objects.get(key_hash=hash_api_key(key)).pages.all()) == [page]


def test_createapikey_makes_a_different_key_each_time(page):
    first = run("createapikey", "acme")[-1]
    second = run("createapikey", "acme")[-1]

    assert first != second
    assert ApiKey.objects.count() == 2


def test_createapikey_for_an_unknown_page_fails_and_creates_nothing(page):
    with pytest.raises(CommandError, match="No page with subdomain or id 'nope'"):
        run("createapikey", "nope")

    assert ApiKey.objects.count() == 0


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def test_ensureadmin_creates_a_superuser_with_a_remembered_password(db, var_dir):
    [line] = run("ensureadmin")

    password = (var_dir / "admin-password").read_text().strip()
    assert line == f"Admin: http://127.0.0.1:8000/admin/  user: admin  password: {password}"
    assert stat.S_IMODE((var_dir / "admin-password").stat().st_mode) == 0o600
    user = authenticate(username="admin", password=password)
    assert user is not None and user.is_superuser and user.is_staff


def test_ensureadmin_is_idempotent_and_prints_the_same_credentials(db, var_dir):
    first = run("ensureadmin")
    second = run("ensureadmin")

    assert first == second
    assert get_user_model().objects.filter(username="admin").count() == 1


def test_ensureadmin_after_a_database_reset_reuses_the_remembered_password(db, var_dir):
    [first] = run("ensureadmin")
    get_user_model().objects.all().delete()

    [second] = run("ensureadmin")

    assert second == first
    password = (var_dir / "admin-password").read_text().strip()
    assert authenticate(username="admin", password=password) is not None


def test_ensureadmin_leaves_a_changed_password_alone_and_does_not_print_the_stale_one(db, var_dir):
    run("ensureadmin")
    user = get_user_model().objects.get(username="admin")
    user.set_password("chosen-by-the-admin")
    user.save()

    [line] = run("ensureadmin", "--url", "http://localhost:9000/admin/")

    stale = (var_dir / "admin-password").read_text().strip()
    assert line.startswith("Admin: http://localhost:9000/admin/  user: admin  password: (changed since")
    assert stale not in line
    assert authenticate(username="admin", password="chosen-by-the-admin") is not None
