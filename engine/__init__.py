"""The tool-calling loop and everything it needs to talk to a model."""
