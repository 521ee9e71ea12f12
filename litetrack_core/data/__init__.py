"""Data that the project does not write itself: the tracking datasets on disk, read by evaluation and
training alike (``load.load_dataset`` into ``sequence.Sequence``; one module per format: ``project``,
``lasot``, ``got10k``, ``tnl2k``, ``otb``), and the real training corpus (a committed manifest that
points into public repositories) with the tools that materialise it.

Nothing is imported here: import the module you need (``from litetrack_core.data.load import
load_dataset``), so that importing the package stays light."""
