"""Reproducible training of tabular models: splits, estimators, metrics and the trainer.

Everything here is pure computation on in-memory frames: no file, network or database IO.
"""
