"""Benchmark evaluation: the OPE runner, pytracking/LaSOT metrics, baselines and plots (datasets are
read by ``litetrack_core.data.load``)."""
