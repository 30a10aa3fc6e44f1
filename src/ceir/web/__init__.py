"""The web application: app factory, shared dependencies, pages' templates and translations."""
