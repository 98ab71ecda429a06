"""Endpoints: which model version serves under which name."""
