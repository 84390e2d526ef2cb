"""Alembic migrations; applied by ``officehours migrate`` and on ``serve``."""
