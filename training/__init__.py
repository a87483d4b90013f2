"""Training and evaluation stage: metrics (MRA, accuracy) over curated QA."""
