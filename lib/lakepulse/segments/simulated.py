"""``gold.user_profile`` rows straight from the simulator, without Kafka or Spark.

The segmentation test and benchmark need profiles of many simulated people whose hidden personas
are known. Running the whole pipeline (Kafka → bronze → silver → gold) for 100,000 people takes far
longer than a test may, so this module reads the simulator's record stream in-process and applies
the gold definitions to it (see ``lakepulse.gold.profiles``):

* a person is the stitched user: the userId once any of the device's events was identified, else
  the device's anonymousId — taken from the ground truth's own ``users`` mapping, so the keys here
  are exactly the ground truth's (and gold's) user ids;
* faulty records are skipped; late events count (silver keeps them); duplicates do not;
* sessions are the simulator's visits (``context.sessionId`` per device), which is what silver's
  30-minute sessions find for them except for the rare visit that resumes within 30 minutes;
* recency is measured against the latest event time of the run, as gold's ``as_of``.

Example::

    simulated = simulated_profiles(SimulatorSettings(users=2000), events=200_000, now=now)
    simulated.profiles          # pandas DataFrame, one row per person, gold.user_profile columns
    simulated.personas          # user id -> persona name
    user_profile_frame(spark, simulated.profiles)   # as gold.user_profile (USER_PROFILE_SCHEMA)
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakepulse.contract import CHECKOUT_STARTED, ORDER_COMPLETED, PRODUCT_ADDED, PRODUCT_VIEWED
from lakepulse.gold.profiles import USER_PROFILE_SCHEMA
from lakepulse.settings import SimulatorSettings
from lakepulse.simulate import faults
from lakepulse.simulate.generator import Simulation
from lakepulse.simulate.truth import GroundTruth

# The gold.user_profile columns filled here (the RFM scores and first-touch columns are left out).
SIMULATED_COLUMNS = (
    "user_id", "is_identified", "devices", "first_seen", "last_seen", "sessions", "events", "page_views",
    "product_views", "adds_to_cart", "checkouts", "orders", "revenue", "average_order_value",
    "first_order_at", "last_order_at", "active_days", "tenure_days", "categories_viewed", "top_category",
    "recency_days", "frequency", "monetary", "as_of",
)


@dataclass
class _Tally:
    """What one device (then one person) did: times as ISO text (they sort like the times)."""

    first_seen: str = "~"
    last_seen: str = ""
    events: int = 0
    page_views: int = 0
    product_views: int = 0
    adds_to_cart: int = 0
    checkouts: int = 0
    orders: int = 0
    revenue: float = 0.0
    first_order_at: str = "~"
    last_order_at: str = ""
    sessions: set[tuple[str, int]] = field(default_factory=set)
    days: set[str] = field(default_factory=set)
    categories: Counter[str] = field(default_factory=Counter)

    def merge(self, other: _Tally) -> None:
        self.first_seen = min(self.first_seen, other.first_seen)
        self.last_seen = max(self.last_seen, other.last_seen)
        for name in ("events", "page_views", "product_views", "adds_to_cart", "checkouts", "orders", "revenue"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.first_order_at = min(self.first_order_at, other.first_order_at)
        self.last_order_at = max(self.last_order_at, other.last_order_at)
        self.sessions |= other.sessions
        self.days |= other.days
        self.categories.update(other.categories)


@dataclass(frozen=True)
class SimulatedProfiles:
    """Profiles of one simulation run and its ground truth."""

    profiles: pd.DataFrame      # one row per person, columns SIMULATED_COLUMNS
    personas: dict[str, str]    # user id -> hidden persona
    truth: GroundTruth


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def simulated_profiles(config: SimulatorSettings, *, events: int, now: datetime,
                       seed: int | None = None) -> SimulatedProfiles:
    """Simulate ``events`` records (as ``lakepulse simulate`` would send them) and return one
    profile row per stitched person with their personas; see the module doc for the rules."""
    simulation = Simulation(config, events=events, now=now, seed=seed)
    truth = GroundTruth(simulation)
    devices: dict[str, _Tally] = {}
    counted = (None, faults.LATE)
    for record in simulation.records():
        truth.add(record)
        if record.fault not in counted:
            continue
        event = json.loads(record.value)
        tally = devices.get(record.anonymous_id)
        if tally is None:
            tally = devices[record.anonymous_id] = _Tally()
        moment = event["timestamp"]
        tally.first_seen = min(tally.first_seen, moment)
        tally.last_seen = max(tally.last_seen, moment)
        tally.events += 1
        tally.days.add(moment[:10])
        tally.sessions.add((record.anonymous_id, event["context"]["sessionId"]))
        call = event["type"]
        if call in ("page", "screen"):
            tally.page_views += 1
            continue
        name = event.get("event")
        if name in (PRODUCT_VIEWED, PRODUCT_ADDED):
            tally.product_views += name == PRODUCT_VIEWED
            tally.adds_to_cart += name == PRODUCT_ADDED
            category = (event["properties"].get("category") or "").strip()
            if category:
                tally.categories[category] += 1
        elif name == CHECKOUT_STARTED:
            tally.checkouts += 1
        elif name == ORDER_COMPLETED:
            tally.orders += 1
            tally.revenue += record.revenue or 0.0
            tally.first_order_at = min(tally.first_order_at, moment)
            tally.last_order_at = max(tally.last_order_at, moment)

    users = truth.users()
    people: dict[str, _Tally] = {}
    for user_id, entry in users.items():
        person = people[user_id] = _Tally()
        for device in entry["anonymous_ids"]:
            person.merge(devices[device])
    as_of = _moment(max(p.last_seen for p in people.values())) if people else now
    rows: list[dict[str, Any]] = []
    for user_id, person in people.items():
        first, last = _moment(person.first_seen), _moment(person.last_seen)
        # The most viewed category; ties to the smallest name (gold: mode(deterministic=True)).
        top = min(person.categories.items(), key=lambda item: (-item[1], item[0]))[0] if person.categories else None
        rows.append({
            "user_id": user_id,
            "is_identified": users[user_id]["identified"],
            "devices": len(users[user_id]["anonymous_ids"]),
            "first_seen": first,
            "last_seen": last,
            "sessions": len(person.sessions),
            "events": person.events,
            "page_views": person.page_views,
            "product_views": person.product_views,
            "adds_to_cart": person.adds_to_cart,
            "checkouts": person.checkouts,
            "orders": person.orders,
            "revenue": round(person.revenue, 2),
            "average_order_value": person.revenue / person.orders if person.orders else None,
            "first_order_at": _moment(person.first_order_at) if person.orders else None,
            "last_order_at": _moment(person.last_order_at) if person.orders else None,
            "active_days": len(person.days),
            "tenure_days": (last.date() - first.date()).days,
            "categories_viewed": len(person.categories),
            "top_category": top,
            "recency_days": max(0, (as_of.date() - last.date()).days),
            "frequency": person.orders,
            "monetary": round(person.revenue, 2),
            "as_of": as_of,
        })
    profiles = pd.DataFrame(rows, columns=list(SIMULATED_COLUMNS))
    personas = {user_id: entry["persona"] for user_id, entry in users.items()}
    return SimulatedProfiles(profiles, personas, truth)




def user_profile_frame(spark: SparkSession, profiles: pd.DataFrame) -> DataFrame:
    """``profiles`` (from :func:`simulated_profiles`) as a Spark frame with ``gold.user_profile``'s
    schema; the columns not simulated (RFM scores, first touch) are null, ``updated_at`` is now."""
    table = pa.Table.from_pandas(profiles, preserve_index=False)
    frame = spark.createDataFrame(table)  # Arrow all the way: fast for 10^5..10^6 rows
    columns = set(profiles.columns)
    return frame.select([
        (frame[f.name] if f.name in columns else
         (F.current_timestamp() if f.name == "updated_at" else F.lit(None))).cast(f.dataType).alias(f.name)
        for f in USER_PROFILE_SCHEMA.fields
    ])
