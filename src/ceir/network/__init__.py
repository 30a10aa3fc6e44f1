"""Network enforcement: operators' dumps, classification of devices, lists operators pull."""
