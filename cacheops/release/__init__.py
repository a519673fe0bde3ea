"""The release side: each family's release state in SQL (its only writer), the manifest projected from it,
staging, airtime schedules and ops' actions (rollback, resume, purge)."""
