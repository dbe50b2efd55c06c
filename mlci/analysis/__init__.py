"""Numbers from values: comparisons, the gate, bootstrap statistics, data drift, profiles,
expectations, reproducibility checks.
"""
