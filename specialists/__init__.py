"""Adapters for the models that tools call."""
