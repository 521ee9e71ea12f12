"""Grounding tests. A package (as test/ros) so that its conftest.py is imported as
`grounding.conftest` and does not replace test/conftest.py as the module `conftest`, which other
tests import from (`from conftest import tiny_config`)."""
