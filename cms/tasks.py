"""Celery entry points for content housekeeping; each calls one service."""

from celery import shared_task

from . import services


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def program_purge(program_id: str) -> bool:
    """Remove a deleted program's seasons and episodes, then the program itself."""
    return services.program_purge(program_id=program_id)


@shared_task(acks_late=True)
def deleted_programs_sweep() -> int:
    """Finish every purge a dead worker left half done."""
    return services.deleted_programs_sweep()


@shared_task(acks_late=True)
def program_index_sync() -> list[int]:
    """Repair the SQL program list from the content store: rows added, changed and removed."""
    return list(services.program_index_sync())
