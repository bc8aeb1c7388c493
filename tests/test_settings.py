"""`.env.example` documents every environment variable the settings and the Procfile read."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def documented_names() -> set[str]:
    # Lines look like `NAME=value` or, for optional ones, `# NAME=value`.
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def names_read_by_settings() -> set[str]:
    source = (ROOT / "config" / "settings.py").read_text()
    return set(
        re.findall(r"""\benv_\w+\(\s*["']([A-Z][A-Z0-9_]*)["']""", source)
        + re.findall(r"""os\.environ(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]*)["']""", source)
        + re.findall(r"""os\.getenv\(\s*["']([A-Z][A-Z0-9_]*)["']""", source)
    )


def names_substituted_in(filename: str) -> set[str]:
    return set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", (ROOT / filename).read_text()))


def names_read_by_procfile() -> set[str]:
    return names_substituted_in("Procfile")


def test_the_scan_finds_the_variables_it_should():
    # Guards the regexes: if they stopped matching, the tests below would pass vacuously.
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "VAR_DIR", "EMAIL_PORT"} <= names_read_by_settings()
    assert {"BIND", "PORT", "WEB_CONCURRENCY", "WEB_THREADS", "WORKER_CONCURRENCY"} == names_read_by_procfile()


def test_env_example_documents_every_variable_settings_read():
    assert names_read_by_settings() - documented_names() == set()


def test_env_example_documents_every_variable_the_procfile_reads():
    assert names_read_by_procfile() - documented_names() == set()


def test_env_example_documents_every_variable_docker_compose_substitutes():
    assert names_substituted_in("docker-compose.yml") - documented_names() == set()


def test_env_example_documents_nothing_that_is_not_read():
    read = names_read_by_settings() | names_read_by_procfile() | names_substituted_in("docker-compose.yml")
    assert documented_names() - read == set()


def test_docker_compose_passes_every_setting_to_the_app_containers():
    # VAR_DIR is fixed by the image; CELERY_TASK_ALWAYS_EAGER is for tests and debugging, not deployments.
    compose = (ROOT / "docker-compose.yml").read_text()
    app_block = compose.split("\nservices:", 1)[0]
    passed = set(re.findall(r"^\s+([A-Z][A-Z0-9_]*):", app_block, flags=re.MULTILINE))
    assert names_read_by_settings() - {"VAR_DIR", "CELERY_TASK_ALWAYS_EAGER"} - passed == set()
