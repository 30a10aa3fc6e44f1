"""Append-only audit trail of decisions and of access to personal data."""
