"""The stages that use models: permutation importance and selection, blend, tuning, submission."""
