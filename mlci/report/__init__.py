"""Rendering of comparisons: markdown for PRs, JSON for machines. Pure: values in, text out."""
