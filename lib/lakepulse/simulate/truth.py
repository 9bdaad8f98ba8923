"""The ground truth of a simulation run: what a correct pipeline must find in its tables.

:class:`GroundTruth` is fed every record as it is sent and writes one JSON document. The figures
reconcile as the pipeline's do::

    records_sent = unique_valid_events + quarantine_total + duplicates_sent

* ``unique_valid_events``: rows silver.events must hold (late events included);
* ``expected_quarantine``: rows silver.quarantine must hold, by the one rule each fault fails;
* ``valid_events_by_name``: unique valid events by track event name, other calls by type;
* ``users``: one entry per user as the pipeline stitches them (the userId once a device was
  identified, else the device's anonymousId) with the hidden persona, valid orders and revenue (in
  ``currency``) and the anonymousIds that belong to it;
* ``persona_mix``: how many of the simulated people have each persona (seen or not).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from lakepulse.contract import RULE_NAMES
from lakepulse.simulate import faults
from lakepulse.simulate.clock import from_ms
from lakepulse.simulate.generator import SimulatedRecord, Simulation
from lakepulse.simulate.model import PERSONAS


class GroundTruth:
    """Accumulates the truth of one :class:`~lakepulse.simulate.generator.Simulation`, record by record.

    Example::

        sim = Simulation(config, events=1000, now=now)
        truth = GroundTruth(sim, topic="lakepulse.events")
        for record in sim.records():
            truth.add(record)
        truth.write(Path(".lakepulse/simulator/lakepulse.events.json"))
    """

    def __init__(self, simulation: Simulation, *, topic: str = "") -> None:
        self.simulation = simulation
        self.topic = topic
        self.records_sent = 0
        self.unique_valid_events = 0
        self.faults = dict.fromkeys(faults.FAULT_KINDS, 0)
        self.expected_quarantine = dict.fromkeys(RULE_NAMES, 0)
        self.valid_events_by_name: dict[str, int] = {}
        self.valid_orders = 0
        self.valid_revenue = 0.0
        # anonymousId -> [valid events, orders, revenue], in order of first appearance
        self._devices: dict[str, list[Any]] = {}
        self._user_of_device: dict[str, str] = {}
        self.send_seconds: float | None = None  # set by run_simulation; not part of the truth document

    def add(self, record: SimulatedRecord) -> None:
        """Count one record that was sent."""
        self.records_sent += 1
        kind = record.fault
        if kind is not None:
            self.faults[kind] += 1
            if record.rule is not None:
                self.expected_quarantine[record.rule] += 1
            if kind != faults.LATE:
                return
        name = record.name
        device = record.anonymous_id
        if name is None or device is None:
            raise ValueError("a valid record must say what its event is")
        self.unique_valid_events += 1
        self.valid_events_by_name[name] = self.valid_events_by_name.get(name, 0) + 1
        tally = self._devices.get(device)
        if tally is None:
            tally = self._devices[device] = [0, 0, 0.0]
        tally[0] += 1
        if record.user_id is not None:
            self._user_of_device[device] = record.user_id
        if record.revenue is not None:
            tally[1] += 1
            tally[2] += record.revenue
            self.valid_orders += 1
            self.valid_revenue += record.revenue

    @property
    def quarantine_total(self) -> int:
        return sum(self.expected_quarantine.values())

    def users(self) -> dict[str, dict[str, Any]]:
        """Per stitched user id: persona, identified, valid_events, orders, revenue, anonymous_ids."""
        person_of_device = self.simulation.world.person_of_device
        users: dict[str, dict[str, Any]] = {}
        for device, (events, orders, revenue) in self._devices.items():
            user_id = self._user_of_device.get(device)
            entry = users.setdefault(user_id or device, {
                "persona": person_of_device[device].persona.name, "identified": user_id is not None,
                "valid_events": 0, "orders": 0, "revenue": 0.0, "anonymous_ids": [],
            })
            entry["valid_events"] += events
            entry["orders"] += orders
            entry["revenue"] += revenue
            entry["anonymous_ids"].append(device)
        for entry in users.values():
            entry["revenue"] = round(entry["revenue"], 2)
            entry["anonymous_ids"].sort()
        return dict(sorted(users.items()))

    def to_dict(self) -> dict[str, Any]:
        """The ground truth document (JSON-ready, deterministic for the same run)."""
        sim = self.simulation
        mix = dict.fromkeys(PERSONAS, 0)
        for person in sim.world.people:
            mix[person.persona.name] += 1
        return {
            "topic": self.topic,
            "seed": sim.seed,
            "now": from_ms(sim.now_ms).isoformat(),
            "timeline": {"start": from_ms(sim.start_ms).isoformat(), "end": from_ms(sim.end_ms).isoformat()},
            "settings": dataclasses.asdict(sim.config),
            "currency": sim.config.currency,
            "records_sent": self.records_sent,
            "unique_valid_events": self.unique_valid_events,
            "duplicates_sent": self.faults[faults.DUPLICATE],
            "late_events_sent": self.faults[faults.LATE],
            "quarantine_total": self.quarantine_total,
            "faults": self.faults,
            "expected_quarantine": self.expected_quarantine,
            "valid_events_by_name": dict(sorted(self.valid_events_by_name.items())),
            "valid_orders": self.valid_orders,
            "valid_revenue": round(self.valid_revenue, 2),
            "persona_mix": mix,
            "users": self.users(),
        }

    def summary(self) -> str:
        """What was sent, one fact per line (printed by ``lakepulse simulate``)."""
        rules = ", ".join(f"{rule} {count:,}" for rule, count in self.expected_quarantine.items() if count)
        currency = self.simulation.config.currency
        return "\n".join([
            f"records sent     {self.records_sent:,}",
            f"valid events     {self.unique_valid_events:,} unique ({self.faults[faults.LATE]:,} of them late)",
            f"duplicates       {self.faults[faults.DUPLICATE]:,}",
            f"to quarantine    {self.quarantine_total:,}" + (f" ({rules})" if rules else ""),
            f"orders           {self.valid_orders:,}, revenue {self.valid_revenue:,.2f} {currency}",
        ])

    def write(self, path: Path) -> Path:
        """Write :meth:`to_dict` as JSON to ``path`` (folders created); returns ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n")
        return path
