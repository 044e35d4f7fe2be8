"""Chancery: diplomacy news ingestion, from discovery to a searchable index."""

PIPELINE_VERSION = "0.1.0"
__version__ = PIPELINE_VERSION
