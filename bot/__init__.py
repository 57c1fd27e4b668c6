"""CareBot (托育助手): the core of the bot, independent of any chat channel.

Settings, storage, the nursery directory, roles, i18n, the Telegram Application factory and the CLI.
"""
