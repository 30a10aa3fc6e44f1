"""Sending SMS: a database outbox for development and demos, SMPP to the SMSC in production."""
