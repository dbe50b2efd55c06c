"""mlci: every pull request a reviewed ML experiment."""

__version__ = "0.1.0"
