"""The morning job's logic: the firm-level interval, evaluation against actuals, drift."""
