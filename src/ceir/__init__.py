"""ceir: Central Equipment Identity Register for Kazakhstan."""

__version__ = "0.1.0"
