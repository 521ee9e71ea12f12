"""Words -> box: object proposals from a shipped detector, sentence -> class, ranking."""
