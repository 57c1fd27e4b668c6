"""Telegram handlers: one module per conversation area, each exposing ``register(app)``.

Handlers parse the Update, call the core and render the reply; no SQL and no business rules live here.
"""
