"""Celery tasks of the snapshot pre-rendering (publicsite.prerender): ids only, safe to run twice.

Routed to the `snapshots` queue by CELERY_TASK_ROUTES (config/settings.py).
"""

from celery import shared_task

from . import prerender


@shared_task(name="publicsite.rebuild", acks_late=True, ignore_result=True, soft_time_limit=60, time_limit=90)
def rebuild(page_id: str) -> None:
    prerender.rebuild(page_id)


@shared_task(name="publicsite.sweep", ignore_result=True)
def sweep() -> None:
    prerender.sweep()
