"""Benchmark evaluation: dataset readers, the OPE runner, pytracking/LaSOT metrics, baselines and plots."""
