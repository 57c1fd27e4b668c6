"""Everything the bot sends without being asked: reminders, campaigns, and the outbox that delivers them.

APScheduler (through PTB's JobQueue) only ticks the planners and the dispatcher kept here.
"""
