"""The dataset report: one self-contained HTML page (totals, plots, sample QA) built from an output root's catalog."""
