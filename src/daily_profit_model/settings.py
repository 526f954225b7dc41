"""Project settings. See https://docs.kedro.org/en/stable/configure/configuration_basics/"""

from daily_profit_model.hooks import DatabaseHooks
from daily_profit_model.monitoring import RunLogHooks

HOOKS = (DatabaseHooks(), RunLogHooks())

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "database": ["database*", "database*/**"],
    },
    # An environment overrides single keys of a parameter block (soft merge), so
    # conf/prod/ holds only what differs from conf/base/.
    "merge_strategy": {"parameters": "soft"},
}
