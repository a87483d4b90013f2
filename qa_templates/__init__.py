"""QA templates: one module per task type plus the shared machinery (phrasing, options, units, gates)."""
