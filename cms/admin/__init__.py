"""The admin over DynamoDB content: a generic base (base.py) and the content admins (content.py)."""

from . import (
    content,  # noqa: F401  (registers the content admins)
    lockout,  # noqa: F401  (labels django-axes' lockout admin)
)
