"""Feature engineering helpers: build windows and the schemas of the feature tables."""
