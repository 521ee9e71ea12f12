"""Success and precision plots (PNG, matplotlib Agg) of several trackers, as the OTB/LaSOT toolkits draw them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from matplotlib.figure import Figure

from litetrack_core.eval.metrics import CENTRE_THRESHOLDS_PX, OVERLAP_THRESHOLDS, Scores

__all__ = ["precision_plot", "success_plot"]


def _save(curves: list[tuple[str, list[float], list[float]]], title: str, xlabel: str, ylabel: str,
          legend_loc: str, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A bare Figure renders PNG through Agg without pyplot's global state or a display.
    fig = Figure(figsize=(5.5, 4.5), dpi=100)
    ax = fig.add_subplot()
    for label, x, y in curves:
        ax.plot(x, y, linewidth=2, label=label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, xlim=(x[0], x[-1]), ylim=(0, 1.01))
    ax.grid(True, linestyle=":")
    ax.legend(loc=legend_loc, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def _check(scores: Mapping[str, Scores]) -> None:
    if not scores:
        raise ValueError("a plot needs scores of at least one tracker, got none")


def success_plot(scores: Mapping[str, Scores], title: str, path: str | Path) -> Path:
    """Success rate against IoU threshold (0..1), one line per tracker, legend ``name [AUC %]``."""
    _check(scores)
    ranked = sorted(scores.items(), key=lambda kv: -kv[1].auc)
    curves = [(f"{n} [AUC {s.auc * 100:.1f}]", list(OVERLAP_THRESHOLDS), list(s.success_curve)) for n, s in ranked]
    return _save(curves, f"Success plot: {title}", "Overlap threshold (IoU)", "Success rate", "lower left", Path(path))


def precision_plot(scores: Mapping[str, Scores], title: str, path: str | Path) -> Path:
    """Precision against centre-error threshold (0..50 px), one line per tracker, legend ``name [P@20 %]``."""
    _check(scores)
    ranked = sorted(scores.items(), key=lambda kv: -kv[1].precision_20px)
    curves = [(f"{n} [P@20 {s.precision_20px * 100:.1f}]", list(CENTRE_THRESHOLDS_PX), list(s.precision_curve))
              for n, s in ranked]
    xlabel = "Location error threshold (px)"
    return _save(curves, f"Precision plot: {title}", xlabel, "Precision", "lower right", Path(path))
