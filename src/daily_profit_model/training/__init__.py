"""Training: time windows, LightGBM models, Optuna tuning, conformal intervals, metrics."""
