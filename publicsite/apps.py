from django.apps import AppConfig


class PublicsiteConfig(AppConfig):
    name = "publicsite"
    verbose_name = "Public site"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every process that writes (web, worker, beat) asks for rebuilds after its commits.
        from . import receivers  # noqa: F401
