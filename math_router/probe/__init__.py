"""The probe: P(the specialist's greedy answer is right), read from its own hidden state.

    model.py  Probe: probe.json read and written, a probability from a hidden state
    fit.py    the fit (scikit-learn's logistic regression) and its held-out AUROC
"""
