"""Validation: the shared folds, the one CV loop, the competition's metric, paired differences."""
