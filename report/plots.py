"""The report's plots, drawn with matplotlib (no pyplot state) and returned as SVG text to inline in the page."""

from __future__ import annotations

import io
import textwrap
from collections import Counter

import matplotlib
import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from report.data import NumericAnswers
from schemas.qa import TASK_TIERS, TaskType
from schemas.tiers import TIER_SPECS, ScaleTier

TIERS = [t.value for t in ScaleTier]
TASKS = [t.value for t in TaskType]
TIER_COLORS = dict(zip(TIERS, ("#7b3294", "#2c7bb6", "#1a9641", "#d9a41a", "#d7191c")))
INK, MUTED, GRID = "#1f2933", "#6b7785", "#e4e8ee"
COUNT_CMAP = LinearSegmentedColormap.from_list("counts", ("#eef4fb", "#9ecae1", "#3182bd", "#08306b"))
LOG_TICKS_M = {1e-3: "1 mm", 1e-2: "1 cm", 1e-1: "10 cm", 1.0: "1 m", 10.0: "10 m", 100.0: "100 m", 1e3: "1 km",
               1e4: "10 km"}
STYLE = {"svg.fonttype": "none", "svg.hashsalt": "spacevista-report", "font.family": "DejaVu Sans",
         "font.size": 9, "axes.edgecolor": MUTED, "axes.labelcolor": INK, "xtick.color": MUTED,
         "ytick.color": MUTED, "text.color": INK, "axes.spines.top": False, "axes.spines.right": False}


def heatmap_cell_id(tier: str, task: str) -> str:
    """The SVG element id of one tier × task cell's count."""
    return f"qa-count-{tier}-{task}"


@matplotlib.rc_context(STYLE)
def qa_heatmap(counts: dict[tuple[str, str], int]) -> str:
    """QA rows per tier (rows) × task (columns), totals in brackets; hatched where the task is not asked in
    the tier, a red 0 where it is asked but nothing was generated."""
    grid = np.array([[counts.get((tier, task), 0) for task in TASKS] for tier in TIERS], dtype=float)
    asked = np.array([[ScaleTier(tier) in TASK_TIERS[TaskType(task)] for task in TASKS] for tier in TIERS])
    peak = max(grid.max(), 1)
    fig = Figure(figsize=(11, 3.6))
    ax = fig.add_subplot()
    ax.imshow(np.where(asked, grid, np.nan), cmap=COUNT_CMAP, vmin=0, vmax=peak, aspect="auto")
    for i, tier in enumerate(TIERS):
        for j, task in enumerate(TASKS):
            if not asked[i, j]:
                ax.add_patch(Rectangle((j - .5, i - .5), 1, 1, facecolor="#f6f7f9",
                                       edgecolor="#d5dae1", hatch="////", linewidth=0))
                continue
            n = int(grid[i, j])
            text = ax.text(j, i, str(n), ha="center", va="center", fontsize=9, fontweight="bold" if n == 0 else None,
                           color="#c0392b" if n == 0 else ("white" if n > .55 * peak else INK))
            text.set_gid(heatmap_cell_id(tier, task))
    ax.set_xticks(range(len(TASKS)), [f"{t.replace('_', ' ')} ({n:,.0f})" for t, n in zip(TASKS, grid.sum(0))],
                  rotation=35, ha="right")
    ax.set_yticks(range(len(TIERS)), [f"{t.replace('_', ' ')} ({n:,.0f})" for t, n in zip(TIERS, grid.sum(1))])
    ax.tick_params(which="both", length=0)
    ax.set_xticks(np.arange(len(TASKS) + 1) - .5, minor=True)
    ax.set_yticks(np.arange(len(TIERS) + 1) - .5, minor=True)
    ax.grid(which="minor", color="white", linewidth=2)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return _svg(fig)


@matplotlib.rc_context(STYLE)
def answer_distributions(answers: list[NumericAnswers]) -> str:
    """One histogram per numeric task and quantity (rows) and tier (columns), each in the tier's unit."""
    rows = sorted({(a.task_type, a.quantity) for a in answers}, key=lambda row: (TASKS.index(row[0]), row[1]))
    cells = {(a.task_type, a.quantity, a.tier): a for a in answers}
    fig = Figure(figsize=(11, 1.55 * len(rows) + .5))
    axes = fig.subplots(len(rows), len(TIERS), squeeze=False)
    for i, (task, quantity) in enumerate(rows):
        several = sum(task == t for t, _ in rows) > 1
        for j, tier in enumerate(TIERS):
            ax = axes[i, j]
            if i == 0:
                ax.set_title(tier.replace("_", " "), color=TIER_COLORS[tier], fontweight="bold", fontsize=10)
            if j == 0:
                ax.set_ylabel(task.replace("_", "\n") + (f"\n({quantity})" if several else ""), rotation=0,
                              ha="right", va="center", fontsize=9)
            cell = cells.get((task, quantity, tier))
            if cell is None:
                ax.text(.5, .5, "—" if ScaleTier(tier) in TASK_TIERS[TaskType(task)] else "not asked",
                        ha="center", va="center", color=MUTED, transform=ax.transAxes)
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
                continue
            values = np.asarray(cell.values)
            ax.hist(values, bins=_bins(values, cell.unit), color=TIER_COLORS[tier], alpha=.85, edgecolor="white",
                    linewidth=.5)
            ax.axvline(np.median(values), color=INK, linewidth=1, linestyle=":")
            ax.set_yticks([])
            ax.spines["left"].set_visible(False)
            ax.tick_params(axis="x", labelsize=7.5)
            ax.set_xlabel(f"{cell.unit}  ·  n={len(values)}", fontsize=8, labelpad=1, color=MUTED)
    fig.subplots_adjust(left=.1, right=.99, top=.95, bottom=.06, hspace=.75, wspace=.18)
    return _svg(fig, tight=False)


@matplotlib.rc_context(STYLE)
def scale_ranges(object_sizes_m: dict[str, list[float]], scene_extents_m: dict[str, list[float]]) -> str:
    """Each object's largest dimension and each scene's extent per tier, on one log axis from mm to km; the band
    behind the scenes is the extent range that defines the tier."""
    fig = Figure(figsize=(11, 3.4))
    ax_objects, ax_scenes = fig.subplots(1, 2, sharey=True)
    rng = np.random.default_rng(0)
    for ax, values, title in ((ax_objects, object_sizes_m, "object size (largest dimension)"),
                              (ax_scenes, scene_extents_m, "scene extent (horizontal diagonal)")):
        for i, tier in enumerate(TIERS):
            if ax is ax_scenes:
                spec = TIER_SPECS[ScaleTier(tier)]
                ax.barh(i, spec.max_extent_m - max(spec.min_extent_m, 1e-3), left=max(spec.min_extent_m, 1e-3),
                        height=.6, color=TIER_COLORS[tier], alpha=.12, linewidth=0)
            v = np.asarray(values.get(tier, []))
            if len(v):
                ax.scatter(v, i + rng.uniform(-.18, .18, len(v)), s=22 if ax is ax_objects else 60,
                           marker="o" if ax is ax_objects else "D", color=TIER_COLORS[tier], alpha=.75,
                           edgecolor="white", linewidth=.5, zorder=3)
                ax.text(1.01, i, f"n={len(v)}", va="center", fontsize=7.5, color=MUTED,
                        transform=ax.get_yaxis_transform())
        ax.set_xscale("log")
        ax.set_xlim(5e-4, 1e4)
        ax.set_xticks(list(LOG_TICKS_M), list(LOG_TICKS_M.values()))
        ax.minorticks_off()
        ax.grid(axis="x", color=GRID, linewidth=.8)
        ax.set_axisbelow(True)
        ax.set_title(title, fontsize=10, loc="left")
    ax_objects.set_yticks(range(len(TIERS)), [t.replace("_", " ") for t in TIERS])
    ax_objects.invert_yaxis()
    for ax in (ax_objects, ax_scenes):
        ax.tick_params(axis="y", length=0)
    fig.subplots_adjust(left=.1, right=.95, top=.9, bottom=.1, wspace=.16)
    return _svg(fig, tight=False)


@matplotlib.rc_context(STYLE)
def reason_bars(counts: Counter, label_width: int = 70) -> str:
    """Horizontal bars of counts per reason, most frequent first (the 15 most frequent, the rest summed)."""
    top = counts.most_common(15)
    rest = sum(counts.values()) - sum(n for _, n in top)
    labels = [textwrap.shorten(" · ".join(key) if isinstance(key, tuple) else str(key), label_width)
              for key, _ in top] + (["other"] if rest else [])
    values = [n for _, n in top] + ([rest] if rest else [])
    fig = Figure(figsize=(11, .32 * len(values) + .6))
    ax = fig.add_subplot()
    bars = ax.barh(range(len(values)), values, color="#c0392b", alpha=.8, height=.65)
    ax.bar_label(bars, padding=3, fontsize=8, color=INK)
    ax.set_yticks(range(len(values)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.tick_params(axis="y", length=0)
    ax.xaxis.set_visible(False)
    ax.spines["bottom"].set_visible(False)
    return _svg(fig)


def _bins(values: np.ndarray, unit: str) -> int | np.ndarray:
    """One bin per integer for counts; otherwise about 2·√n bins."""
    if unit == "count":
        return np.arange(values.min() - .5, values.max() + 1.5)
    return int(np.clip(np.sqrt(len(values)) * 2, 4, 30))


def _svg(fig: Figure, tight: bool = True) -> str:
    """The figure as an <svg> element (no XML prolog, no fixed size: the page's CSS sets its width)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight" if tight else None, metadata={"Date": None}, transparent=True)
    text = buf.getvalue()
    return text[text.index("<svg"):]
