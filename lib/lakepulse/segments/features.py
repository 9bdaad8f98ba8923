"""Per-user segmentation features from ``gold.user_profile``: business values and model inputs.

Every feature is defined once, as SQL over ``gold.user_profile`` columns, in :data:`FEATURES`:

* its **business value** (days, orders, money, a rate), the unit segment profiles are shown in;
* its **model input**: ``log1p`` of the business value for skewed counts and amounts (a person with
  200 sessions is not 100 times as different from one with 2 as the one with 2 is from one with 0),
  the value itself for rates, which already lie in 0..1.

The model then standardises the inputs (mean 0, unit variance; see ``lakepulse.segments.model``).
Which features are used, in which order, is ``segmentation.features`` in the settings.

The same SQL serves the fitted pipeline (a ``SQLTransformer`` stage, so a saved model carries its
feature definitions and scores new users without this module) and :func:`with_features`, the pure
transform used for segment profiles and tests.

Example::

    features = with_features(spark.read.table("gold.user_profile"), ["recency", "frequency"])
    features.columns   # user_id, recency, frequency, f_recency, f_frequency
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

LOG1P = "log1p"
IDENTITY = "identity"
MODEL_PREFIX = "f_"  # model input column of feature x: f_x


@dataclass(frozen=True)
class Feature:
    """One feature: ``value`` is SQL over ``gold.user_profile`` giving the business value."""

    name: str
    value: str
    transform: str  # LOG1P or IDENTITY
    unit: str
    description: str

    @property
    def model_column(self) -> str:
        return MODEL_PREFIX + self.name

    def model_sql(self) -> str:
        """SQL for the model input (a double)."""
        return f"log1p({self.value})" if self.transform == LOG1P else f"({self.value})"

    def to_business(self, model_value: float) -> float:
        """The business value of a model input value (the inverse of the transform; no feature is
        ever below 0, so rounding errors below it are cut)."""
        return max(0.0, math.expm1(model_value) if self.transform == LOG1P else model_value)


def _double(sql: str) -> str:
    return f"CAST({sql} AS DOUBLE)"


_VIEWS = "greatest(product_views, 1)"

FEATURES: dict[str, Feature] = {f.name: f for f in (
    Feature("recency", _double("coalesce(recency_days, 0)"), LOG1P, "days",
            "days from the last event to the table's as-of date"),
    Feature("frequency", _double("orders"), LOG1P, "orders", "orders placed"),
    Feature("monetary", _double("revenue"), LOG1P, "revenue", "revenue of the orders"),
    Feature("average_order_value", _double("coalesce(average_order_value, 0)"), LOG1P, "revenue",
            "revenue per order; 0 for people who never ordered"),
    Feature("sessions", _double("sessions"), LOG1P, "sessions", "visits (30-minute inactivity sessions)"),
    Feature("views", _double("product_views"), LOG1P, "views", "product pages viewed"),
    Feature("cart_rate", _double(f"least(1, adds_to_cart / {_VIEWS})"), IDENTITY, "adds per view",
            "adds to cart per product view (at most 1; 0 without views)"),
    Feature("view_to_order", _double(f"least(1, orders / {_VIEWS})"), IDENTITY, "orders per view",
            "orders per product view (at most 1; 0 without views)"),
    Feature("category_diversity", _double("categories_viewed"), LOG1P, "categories",
            "distinct product categories viewed or added"),
    Feature("tenure", _double("tenure_days"), LOG1P, "days", "days from the first to the last event"),
    Feature("active_days", _double("active_days"), LOG1P, "days", "distinct days with events"),
)}

# gold.user_profile columns the features read.
PROFILE_INPUTS = ("recency_days", "orders", "revenue", "average_order_value", "sessions", "product_views",
                  "adds_to_cart", "categories_viewed", "tenure_days", "active_days")


def features_of(names: Sequence[str]) -> list[Feature]:
    """The :class:`Feature` of each name, in order; ``KeyError`` names an unknown one."""
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise KeyError(f"unknown segmentation feature(s) {', '.join(unknown)} (features: {', '.join(FEATURES)})")
    return [FEATURES[n] for n in names]


def model_columns(names: Sequence[str]) -> list[str]:
    """The model input column names of ``names``, in order (``f_recency``, ...)."""
    return [f.model_column for f in features_of(names)]


def feature_sql(names: Sequence[str]) -> str:
    """A ``SQLTransformer`` statement adding the model input columns of ``names`` to a user_profile
    frame (``__THIS__``)."""
    columns = ", ".join(f"{f.model_sql()} AS {f.model_column}" for f in features_of(names))
    return f"SELECT *, {columns} FROM __THIS__"


def with_features(profiles: DataFrame, names: Sequence[str]) -> DataFrame:
    """``user_id`` and, for each feature of ``names``, its business value in a column named after
    it and its model input in ``f_<name>``: one row per user of ``profiles`` (``gold.user_profile``
    rows), whose own columns are left out (``frequency`` and ``monetary`` would clash)."""
    selected = features_of(names)
    business = [F.expr(f.value).alias(f.name) for f in selected]
    model = [F.expr(f.model_sql()).alias(f.model_column) for f in selected]
    return profiles.select("user_id", *business, *model)
