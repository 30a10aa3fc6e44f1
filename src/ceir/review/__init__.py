"""Officers' back office: accounts and roles, the review queue, decisions, the audit search."""
