"""Checkpoint formats: loading, saving, and pretrained initialisations."""
