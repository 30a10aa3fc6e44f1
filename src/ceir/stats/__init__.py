"""Public statistics: daily aggregates without personal data, as charts and as open data."""
