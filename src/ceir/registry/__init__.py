"""Registry of legally imported devices and their registrations."""
