"""Durable background jobs: submit, run in child processes, retry lost workers, announce."""
