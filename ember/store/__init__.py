"""Metadata store: one abstract interface per aggregate, SQL implementations under ``sql/``."""
