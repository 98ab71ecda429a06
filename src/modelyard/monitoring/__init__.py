"""Monitoring services: drift and data quality of served traffic against a reference."""
