"""Pure values: run records and registry names. Imports nothing of mlci but errors."""
