"""The project's own parameters (conf/base), typed, with a test's changes applied."""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel

from daily_profit_model.params import merged, project_parameters
from tests.conftest import PROJECT_PATH

Model = TypeVar("Model", bound=BaseModel)


@cache
def _base() -> dict[str, Any]:
    return project_parameters(PROJECT_PATH)


def params(model: type[Model], key: str, **changes: Any) -> Model:
    """``conf/base``'s ``key`` block as ``model``, with ``changes`` merged in."""
    return model.model_validate(merged(_base()[key], changes))
