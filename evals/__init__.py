"""Evaluation: data sets, grading, the three methods, the runner and the report."""
