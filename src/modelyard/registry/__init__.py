"""Model registry: versions, lineage, stages and loading."""
