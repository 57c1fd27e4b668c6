"""Storage: the async SQLModel engine, the table models, small repositories and Alembic migrations.

No session leaves this package (or a domain package's repository module): callers get plain objects.
"""
