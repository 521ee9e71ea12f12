"""Data that the project does not write itself: the real training corpus (a committed manifest that
points into public repositories) and the tools that materialise it."""
