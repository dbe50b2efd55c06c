"""Data checks: profiles of the pipeline's tables, drift between base and head, expectations.

Everything here is pure or reads files only; pandas/pyarrow/numpy/matplotlib load lazily.
"""
