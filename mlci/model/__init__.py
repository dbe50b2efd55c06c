"""Pure values: run records, registry names, gate verdicts. Imports nothing of mlci but errors."""
