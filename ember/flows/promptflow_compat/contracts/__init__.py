"""``promptflow.contracts``."""
