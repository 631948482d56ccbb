"""Data: Dacon's schema, loading and checking its files, data sources, the built-in simulator."""
