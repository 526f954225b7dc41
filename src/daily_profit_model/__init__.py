"""daily-profit-model: next-day P&L forecasts with honest intervals for every live
prop-trading account, as a Kedro project on PostgreSQL, parquet and MLflow."""

__version__ = "0.1"
