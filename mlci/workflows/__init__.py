"""One use case per module (run, diff, report, reproduce, promote, retrain, sweep, ci, …): what a CLI
command calls.
"""
