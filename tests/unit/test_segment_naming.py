"""Segment names from centroids in business units: each rule, priority, uniqueness, missing features."""

from __future__ import annotations

import pytest

from lakepulse.segments.naming import (
    AT_RISK,
    BIG_SPENDERS,
    BROWSERS,
    CHAMPIONS,
    HIBERNATING,
    LOYAL,
    NEW_CUSTOMERS,
    NEW_VISITORS,
    OCCASIONAL_BUYERS,
    WINDOW_SHOPPERS,
    Levels,
    name_segments,
)

# The typical user: recency 4 days, 1 order, 80 of revenue at 80 per order, 3 sessions, 9 views,
# a cart rate of 0.1, tenure 10 days.
TYPICAL = {"recency": 4.0, "frequency": 1.0, "monetary": 80.0, "average_order_value": 80.0, "sessions": 3.0,
           "views": 9.0, "cart_rate": 0.1, "tenure": 10.0}


def centroid(**changes: float) -> dict[str, float]:
    return {**TYPICAL, **changes}


def test_each_rule_names_the_segment_it_describes() -> None:
    names = name_segments({
        0: centroid(frequency=6.0, monetary=900.0, recency=1.0),            # buys often, a lot, lately
        1: centroid(frequency=3.0, monetary=150.0, recency=4.0),            # buys often, not much more
        2: centroid(frequency=1.0, monetary=80.0, recency=12.0),            # bought, then went quiet
        3: centroid(frequency=0.0, monetary=0.0, average_order_value=0.0, views=30.0, sessions=6.0, recency=2.0),
        4: centroid(frequency=1.0, monetary=60.0, tenure=1.0, recency=1.0),  # first order, just arrived
        5: centroid(frequency=0.0, monetary=0.0, average_order_value=0.0, views=1.0, sessions=1.0, recency=20.0),
    }, TYPICAL)
    assert names == {0: CHAMPIONS, 1: LOYAL, 2: AT_RISK, 3: WINDOW_SHOPPERS, 4: NEW_CUSTOMERS, 5: HIBERNATING}


def test_ratios_of_counts_compare_one_plus_the_values_and_rates_compare_the_values() -> None:
    levels = Levels(centroid(frequency=3.0, cart_rate=0.3), TYPICAL)
    assert levels.ratio("frequency") == pytest.approx((1 + 3.0) / (1 + 1.0))
    assert levels.ratio("cart_rate") == pytest.approx(3.0)
    assert levels.buying
    assert not Levels(centroid(frequency=0.49), TYPICAL).buying


def test_a_name_goes_to_the_best_fit_and_the_other_segment_takes_its_next_matching_name() -> None:
    # Both are champions by the rule; the bigger spender keeps the name, the other is loyal.
    names = name_segments({
        0: centroid(frequency=4.0, monetary=400.0, recency=1.0),
        1: centroid(frequency=6.0, monetary=2000.0, recency=1.0),
    }, TYPICAL)
    assert names == {0: LOYAL, 1: CHAMPIONS}


def test_names_are_distinct_and_fallbacks_are_numbered_by_size_of_what_they_do() -> None:
    quiet = {"frequency": 0.0, "monetary": 0.0, "average_order_value": 0.0, "views": 3.0, "sessions": 1.0,
             "recency": 4.0, "tenure": 10.0}
    names = name_segments({
        0: {**quiet, "views": 2.0},
        1: {**quiet, "views": 4.0},
        2: centroid(frequency=1.0, monetary=70.0),          # a buyer like the typical one
    }, TYPICAL)
    assert names == {0: f"{BROWSERS} 2", 1: BROWSERS, 2: OCCASIONAL_BUYERS}
    assert len(set(names.values())) == len(names)


def test_heavy_browsers_who_seldom_convert_are_window_shoppers_even_with_an_order() -> None:
    typical = {**TYPICAL, "view_to_order": 0.05}
    names = name_segments({
        0: {**typical, "frequency": 0.6, "monetary": 13.0, "views": 150.0, "view_to_order": 0.004},
        1: {**typical, "frequency": 0.6, "monetary": 13.0, "views": 150.0, "view_to_order": 0.04},
    }, typical)
    assert names == {0: WINDOW_SHOPPERS, 1: OCCASIONAL_BUYERS}


def test_big_spenders_spend_more_per_order_than_the_other_buyers_and_new_visitors_just_arrived() -> None:
    names = name_segments({
        0: centroid(frequency=1.0, monetary=400.0, average_order_value=400.0, recency=5.0),
        1: centroid(frequency=0.0, monetary=0.0, average_order_value=0.0, views=3.0, sessions=1.0, tenure=0.0,
                    recency=0.0),
        2: centroid(frequency=1.0, monetary=90.0, average_order_value=90.0, recency=4.0),
        3: centroid(frequency=1.0, monetary=70.0, average_order_value=70.0, recency=4.0),
    }, TYPICAL)
    # Buying segments' median order value is 90: 400 is more than 1.5 times that.
    assert names == {0: BIG_SPENDERS, 1: NEW_VISITORS, 2: OCCASIONAL_BUYERS, 3: f"{OCCASIONAL_BUYERS} 2"}


def test_one_time_buyers_among_non_buyers_are_neither_loyal_nor_big_spenders() -> None:
    # The typical user never ordered: one order is "more than typical" but not loyalty, and with a
    # single buying segment there is no other buyer to out-spend.
    typical = {**TYPICAL, "frequency": 0.1, "monetary": 1.0, "average_order_value": 1.0}
    names = name_segments({
        0: {**typical, "frequency": 1.0, "monetary": 140.0, "average_order_value": 140.0},
        1: {**typical, "frequency": 0.0, "monetary": 0.0, "average_order_value": 0.0, "views": 2.0, "sessions": 1.0},
    }, typical)
    assert names == {0: OCCASIONAL_BUYERS, 1: BROWSERS}


def test_a_rule_needing_a_feature_the_model_lacks_never_matches() -> None:
    # Without recency nobody can be a champion, loyal, at risk or hibernating.
    typical = {k: v for k, v in TYPICAL.items() if k != "recency"}
    names = name_segments({
        0: {**typical, "frequency": 6.0, "monetary": 900.0},
        1: {**typical, "frequency": 0.0, "monetary": 0.0, "views": 0.0, "sessions": 0.0},
    }, typical)
    assert names == {0: OCCASIONAL_BUYERS, 1: BROWSERS}


def test_buying_falls_back_to_monetary_without_frequency() -> None:
    typical = {"monetary": 50.0, "views": 5.0}
    names = name_segments({0: {"monetary": 120.0, "views": 5.0}, 1: {"monetary": 0.0, "views": 20.0}}, typical)
    assert names == {0: OCCASIONAL_BUYERS, 1: WINDOW_SHOPPERS}


def test_naming_is_deterministic_on_ties() -> None:
    same = centroid(frequency=0.0, monetary=0.0, average_order_value=0.0, views=30.0)
    assert name_segments({3: same, 1: same}, TYPICAL) == {1: WINDOW_SHOPPERS, 3: BROWSERS}
