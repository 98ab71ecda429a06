"""Repositories: the only code that queries the ORM; they return domain entities."""
