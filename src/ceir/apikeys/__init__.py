"""API keys of operators and partners: shown once, stored hashed, scoped, revocable."""
