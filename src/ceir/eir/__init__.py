"""Real-time equipment identity check (N5g-eir and Diameter S13) from an in-memory index."""
