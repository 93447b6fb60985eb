"""Expiry reminders before the end of an eSIM's last paid period."""
