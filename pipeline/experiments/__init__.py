"""Experiments: the ablation table and its variant lists, the presets."""
