"""Signals the content app sends, so other apps react to edits without cms importing them."""

from django.dispatch import Signal

# Sent after every stored editorial write, with `program_id` (the program the items belong to),
# `items` (a list of (kind, id, version, deleted): the version written, or for a delete the version read)
# and `user`. The write is stored already: a receiver's failure must not undo or hide it.
content_changed = Signal()
