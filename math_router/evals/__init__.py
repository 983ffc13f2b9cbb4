"""Evaluation: data sets, grading, the methods, the runner and the report.

    datasets.py    GSM8K, MATH-500 or a local file -> Problems; a user's own (load_inputs)
    grading.py     is_correct(text, gold, dataset)
    methods.py     llm, router, slm, cascade, probe: question -> Trace; declared once in DECLARED
    voting.py      the cascade's vote and its early stop
    records.py     Traces as flat records (eval rows, answer rows); read_records (read only)
    runner.py      a method over problems: worker pool, append-only results, resume
    budget.py      --max-cost, --max-time: no problem starts past the budget
    plan.py        --dry-run: problems left, requests, tokens, estimated cost
    folders.py     EvalFolder, AnswerFolder: what a job writes, what a rerun must match
    evaluation.py  the two jobs on the runner: evaluate (gold answers), answer (your own)
    compare.py     the figures per method and per pair; stats.py: intervals, paired tests
    report.py      comparison.json, the tables, report.md; plots.py
    html_report.py report.html: every problem beside every method, the traces a click away
    calibrate.py   the cascade's threshold (or the probe method's bands) chosen on other problems
    probe_training.py  train-probe: labels from slm runs, the specialist's hidden states, a probe
    provenance.py  versions, commit, model files and prompts by hash
"""
