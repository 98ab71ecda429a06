"""Datasets: reading, versioning and (later) validation and profiling."""
