"""Process-wide set-up every layer needs (the offline switches), below every other package."""
