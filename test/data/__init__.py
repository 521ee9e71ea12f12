"""Real-corpus tests. A package, as test/ros is, so that its conftest.py is imported as
`data.conftest` and does not replace test/conftest.py as the module `conftest`."""
