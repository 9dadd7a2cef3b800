"""Sessionroom: the controller of a guided psychotherapy session room."""

__version__ = "0.1.0"
