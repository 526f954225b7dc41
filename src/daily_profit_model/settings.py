"""Project settings. See https://docs.kedro.org/en/stable/configure/configuration_basics/"""

import warnings

from daily_profit_model.hooks import DatabaseHooks
from daily_profit_model.monitoring import RunLogHooks
from daily_profit_model.run_summary import RunSummaryHooks

# Known and harmless on every run: Kedro's config loader and kedro-mlflow register
# their resolvers through an OmegaConf call that OmegaConf now calls deprecated.
# (A logging filter in conf/logging.yml would catch more, but Kedro refuses the
# ``()`` factory key that dictConfig needs for filters.)
warnings.filterwarnings(
    "ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning
)
# Kedro's parameter validation reads ``model_fields`` from a pydantic instance, which
# pydantic 2.11 calls deprecated (Kedro's code, harmless until pydantic 3).
warnings.filterwarnings(
    "ignore",
    message=r"Accessing the 'model_fields' attribute on the instance is deprecated",
)

HOOKS = (DatabaseHooks(), RunLogHooks(), RunSummaryHooks())

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
