"""Readable segment names from centroids in business units, by rules (pure Python).

A centroid is compared with the **typical user** (the centre of all users, in the same units), so
the rules hold for a shop of any size or price level. For counts and amounts (``log1p`` features)
the comparison is the ratio ``(1 + segment) / (1 + typical)``; for rates, ``segment / typical``.

A segment is **buying** when its centroid has at least half an order (``frequency ≥ 0.5``; without
that feature, ``monetary ≥ 1``), of **repeat buyers** when it has at least one and a half
(``frequency ≥ 1.5``): the typical user of a shop is often no buyer at all, so "more orders than
typical" alone would call one-time buyers loyal. The rules, in priority order — each name goes to the matching segment
that fits it best (the highest score), so no two segments share a name:

=================  ============================================================  ===================
name               rule                                                          best fit
=================  ============================================================  ===================
Champions          repeat buyers, frequency ≥ 2× and monetary ≥ 2× typical,      frequency × monetary
                   recency ≤ typical                                             ÷ recency
Loyal              repeat buyers, frequency ≥ 1.5× typical, recency < 1.5×       frequency
                   typical
At risk            buying, recency ≥ 1.5× typical                                recency × monetary
Big spenders       buying, average order value ≥ 1.5× that of the median         average order value
                   buying segment (needs two buying segments or more)
New customers      buying, tenure ≤ 0.5× typical, recency ≤ typical              1 ÷ tenure
Window shoppers    not buying, views or sessions ≥ typical; or views or          views
                   sessions ≥ 1.5× typical and view to order ≤ 0.5× typical
New visitors       not buying, tenure ≤ 0.5× typical, recency ≤ typical          1 ÷ tenure
Hibernating        not buying, recency ≥ 1.5× typical                            recency
Occasional buyers  buying (any other)                                            monetary
Browsers           not buying (any other)                                        views
=================  ============================================================  ===================

A rule that needs a feature the model does not use never matches. When a name is already taken, a
segment that only matches it gets the next matching one; the two catch-all names take a number
(``Browsers 2``) when several segments fall through to them.

Example::

    name_segments({0: {"frequency": 6.0, "monetary": 900.0, "recency": 1.0},
                   1: {"frequency": 0.0, "monetary": 0.0, "recency": 9.0}},
                  typical={"frequency": 1.0, "monetary": 80.0, "recency": 4.0})
    # {0: "Champions", 1: "Hibernating"}
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from lakepulse.segments.features import FEATURES, LOG1P

CHAMPIONS = "Champions"
LOYAL = "Loyal"
AT_RISK = "At risk"
BIG_SPENDERS = "Big spenders"
NEW_CUSTOMERS = "New customers"
WINDOW_SHOPPERS = "Window shoppers"
NEW_VISITORS = "New visitors"
HIBERNATING = "Hibernating"
OCCASIONAL_BUYERS = "Occasional buyers"
BROWSERS = "Browsers"
SEGMENT_NAMES = (CHAMPIONS, LOYAL, AT_RISK, BIG_SPENDERS, NEW_CUSTOMERS, WINDOW_SHOPPERS, NEW_VISITORS,
                 HIBERNATING, OCCASIONAL_BUYERS, BROWSERS)


class _Missing(Exception):
    """A rule needs a feature the centroid does not have."""


@dataclass(frozen=True)
class Levels:
    """One centroid relative to the typical user: ``ratio(feature)`` (see the module doc)."""

    centroid: Mapping[str, float]
    typical: Mapping[str, float]
    typical_buyer: Mapping[str, float] = field(default_factory=dict)  # median of the buying segments

    @property
    def repeat_buyers(self) -> bool:
        return self.value("frequency") >= 1.5

    def buyer_ratio(self, name: str) -> float:
        """The ratio against the median buying segment; missing when there is none to compare with."""
        if name not in self.typical_buyer:
            raise _Missing(name)
        return Levels(self.centroid, self.typical_buyer).ratio(name)

    def value(self, name: str) -> float:
        if name not in self.centroid:
            raise _Missing(name)
        return self.centroid[name]

    def ratio(self, name: str) -> float:
        value = self.value(name)
        typical = self.typical.get(name, 0.0)
        if FEATURES[name].transform == LOG1P:
            return (1.0 + max(value, 0.0)) / (1.0 + max(typical, 0.0))
        return value / typical if typical > 0 else (float("inf") if value > 0 else 1.0)

    @property
    def buying(self) -> bool:
        if "frequency" in self.centroid:
            return self.centroid["frequency"] >= 0.5
        return self.value("monetary") >= 1.0

    def views_level(self) -> float:
        levels = [self.ratio(n) for n in ("views", "sessions") if n in self.centroid]
        if not levels:
            raise _Missing("views")
        return max(levels)


# name -> (rule, best-fit score)
_Rule = tuple[Callable[[Levels], bool], Callable[[Levels], float]]
RULES: dict[str, _Rule] = {
    CHAMPIONS: (lambda s: s.repeat_buyers and s.ratio("frequency") >= 2 and s.ratio("monetary") >= 2
                and s.ratio("recency") <= 1,
                lambda s: s.ratio("frequency") * s.ratio("monetary") / s.ratio("recency")),
    LOYAL: (lambda s: s.repeat_buyers and s.ratio("frequency") >= 1.5 and s.ratio("recency") < 1.5,
            lambda s: s.ratio("frequency")),
    AT_RISK: (lambda s: s.buying and s.ratio("recency") >= 1.5,
              lambda s: s.ratio("recency") * s.ratio("monetary")),
    BIG_SPENDERS: (lambda s: s.buying and s.buyer_ratio("average_order_value") >= 1.5,
                   lambda s: s.buyer_ratio("average_order_value")),
    NEW_CUSTOMERS: (lambda s: s.buying and s.ratio("tenure") <= 0.5 and s.ratio("recency") <= 1,
                    lambda s: 1 / s.ratio("tenure")),
    WINDOW_SHOPPERS: (lambda s: (not s.buying and s.views_level() >= 1)
                      or (s.views_level() >= 1.5 and s.ratio("view_to_order") <= 0.5),
                      lambda s: s.views_level()),
    NEW_VISITORS: (lambda s: not s.buying and s.ratio("tenure") <= 0.5 and s.ratio("recency") <= 1,
                   lambda s: 1 / s.ratio("tenure")),
    HIBERNATING: (lambda s: not s.buying and s.ratio("recency") >= 1.5, lambda s: s.ratio("recency")),
}


def _matches(levels: Levels, name: str) -> bool:
    try:
        return RULES[name][0](levels)
    except _Missing:
        return False


def _fallback_score(levels: Levels, buying: bool) -> float:
    """Buyers rank by monetary, the others by views (then sessions)."""
    for name in ("monetary", "frequency") if buying else ("views", "sessions"):
        if name in levels.centroid:
            return levels.ratio(name)
    return 0.0


def name_segments(centroids: Mapping[int, Mapping[str, float]], typical: Mapping[str, float]) -> dict[int, str]:
    """A distinct readable name for each segment id, by the rules of the module doc.

    ``centroids`` maps a segment id to its centroid in business units ({feature name: value});
    ``typical`` is the centre of all users in the same units. Deterministic: ties go to the lower
    segment id.
    """
    buying = [c for c in centroids.values() if _is_buying(Levels(c, typical))]
    typical_buyer = ({name: statistics.median(c[name] for c in buying) for name in typical
                      if all(name in c for c in buying)} if len(buying) >= 2 else {})
    levels = {segment: Levels(centroid, typical, typical_buyer) for segment, centroid in centroids.items()}
    names: dict[int, str] = {}
    for name, (_, score) in RULES.items():
        candidates = [s for s in sorted(levels) if s not in names and _matches(levels[s], name)]
        if candidates:
            best = max(candidates, key=lambda s: (score(levels[s]), -s))
            names[best] = name
    fallen = [s for s in sorted(levels) if s not in names]
    for buying, name in ((True, OCCASIONAL_BUYERS), (False, BROWSERS)):
        group = sorted((s for s in fallen if _is_buying(levels[s]) == buying),
                       key=lambda s: (-_fallback_score(levels[s], buying), s))
        for number, segment in enumerate(group, start=1):
            names[segment] = name if number == 1 else f"{name} {number}"
    return {segment: names[segment] for segment in sorted(names)}


def _is_buying(levels: Levels) -> bool:
    try:
        return levels.buying
    except _Missing:
        return False
