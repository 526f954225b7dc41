"""Ingestion from the Risk Analytics API and plan exports into the raw tables."""
