"""Optuna search of the point model: objective (L1, Huber, Fair) and tree parameters."""

from __future__ import annotations

import logging
import time
from typing import Any

import lightgbm as lgb
import optuna

from daily_profit_model.params import TuningParams
from daily_profit_model.training.models import Rows, fit_booster, point_params

logger = logging.getLogger(__name__)

# Part of the study's name: trials of another search space (or target scale) are not
# comparable, so changing _suggest or the target means a new version here.
SEARCH_SPACE_VERSION = "s2"  # s2: rounds capped by the rounds x leaves budget
_MAX_ROUNDS = 3000
_REPORT_EVERY = 25


def _suggest(trial: optuna.Trial, objectives: list[str]) -> dict[str, Any]:
    """One trial's choices. Huber's alpha and Fair's c are searched as shares of a
    typical account (0.01% to 5%); :func:`point_params` turns them into target units."""
    params: dict[str, Any] = {
        "objective": trial.suggest_categorical("objective", objectives)
    }
    if params["objective"] == "huber":
        params["huber_alpha"] = trial.suggest_float("huber_alpha", 1e-4, 0.05, log=True)
    if params["objective"] == "fair":
        params["fair_c"] = trial.suggest_float("fair_c", 1e-4, 0.05, log=True)
    params.update(
        learning_rate=trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        num_leaves=trial.suggest_int("num_leaves", 7, 255, log=True),
        min_data_in_leaf=trial.suggest_int("min_data_in_leaf", 20, 1000, log=True),
        feature_fraction=trial.suggest_float("feature_fraction", 0.4, 1.0),
        bagging_fraction=trial.suggest_float("bagging_fraction", 0.5, 1.0),
        lambda_l2=trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
    )
    return params


def max_rounds(num_leaves: int, max_tree_leaves: int) -> int:
    """The most boosting rounds a model of ``num_leaves`` leaves per tree may grow
    within the rounds x leaves budget (and never more than the search's cap)."""
    return max(1, min(_MAX_ROUNDS, max_tree_leaves // int(num_leaves)))


def _pruning_callback(trial: optuna.Trial):
    """Report the validation L1 to Optuna as boosting goes; stop a hopeless trial."""

    def callback(env: lgb.callback.CallbackEnv) -> None:
        if env.iteration % _REPORT_EVERY:
            return
        value = next(r[2] for r in env.evaluation_result_list if r[1] == "l1")
        trial.report(value, step=env.iteration)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at round {env.iteration}")

    return callback


def run_study(  # noqa: PLR0913
    train: Rows,
    valid: Rows,
    storage: optuna.storages.BaseStorage,
    study_name: str,
    settings: TuningParams,
    seed: int,
    target_unit: float,
    num_threads: int = 2,
) -> optuna.Study:
    """Run (or resume) the study until it holds ``n_trials`` finished trials.

    The study lives in ``storage`` (PostgreSQL): a rerun on the same data resumes it;
    the study's name carries the data's fingerprint, so new data starts a new study.
    ``target_unit`` is a typical account's size in the target's unit (see
    :func:`point_params`).
    """
    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=100),
        load_if_exists=True,
    )
    done = sum(
        t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        for t in study.trials
    )
    remaining = max(settings.n_trials - done, 0)
    logger.info(
        "Optuna study %s: %d trials stored, running %d more (budget %s s)",
        study_name,
        done,
        remaining,
        settings.timeout_s,
    )
    started = time.perf_counter()

    def objective(trial: optuna.Trial) -> float:
        params = point_params(
            _suggest(trial, list(settings.objectives)), seed, target_unit
        )
        booster = fit_booster(
            params,
            train,
            valid,
            max_rounds(params["num_leaves"], settings.max_tree_leaves),
            callbacks=[_pruning_callback(trial)],
            num_threads=num_threads,
        )
        value = booster.best_score["validation"]["l1"]
        trial.set_user_attr("best_iteration", booster.best_iteration)
        return value

    def progress(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        logger.info(
            "Trial %d/%d %s: validation MAE %s (best %.3f) after %.0f s",
            trial.number + 1,
            settings.n_trials,
            trial.state.name.lower(),
            f"{trial.value:.3f}" if trial.value is not None else "-",
            study.best_value,
            time.perf_counter() - started,
        )

    if remaining:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study.optimize(
            objective,
            n_trials=remaining,
            timeout=settings.timeout_s,
            callbacks=[progress],
        )
    logger.info(
        "Optuna study %s: best validation MAE %.3f with %s",
        study_name,
        study.best_value,
        study.best_params,
    )
    return study
