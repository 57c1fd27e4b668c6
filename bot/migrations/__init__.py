"""Alembic migrations, shipped inside the package so ``carebot db upgrade`` works after ``pip install``."""
