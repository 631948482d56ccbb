"""Model families, one folder each (``models/<family>/``), known through ``models/registry.py``."""
