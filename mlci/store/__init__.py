"""Where mlci reads and writes: git, run records (git notes), DVC files, metrics, atomic files, the
config file.
"""
