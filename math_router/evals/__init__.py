"""Evaluation: data sets, grading, the methods, the runner and the report.

    datasets.py  GSM8K, MATH-500 or a local file -> Problems
    grading.py   is_correct(text, gold, dataset)
    methods.py   llm, router, slm, cascade: question -> Trace; METHODS
    records.py   Traces as flat records; read_records (read only)
    runner.py    a method over problems: workers, progress, append-only results, resume
    report.py    comparison.json, the tables, plots
"""
