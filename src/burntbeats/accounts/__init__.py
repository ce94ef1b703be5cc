"""Accounts: local users with argon2 passwords, sign-in sessions, personal API keys (burntbeats.accounts.*).

Off by default: the app has one local user and no sign-in. AUTH_REQUIRED=1 turns them on (README).
"""
