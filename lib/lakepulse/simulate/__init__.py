"""The event simulator (``lakepulse simulate``): shoppers with hidden personas browsing a shop,
sent to Kafka as contract events with faults at configured rates, and the ground truth a correct
pipeline must reproduce.

* :mod:`~lakepulse.simulate.model` — personas, catalogue, campaigns, people and devices, daily rhythm;
* :mod:`~lakepulse.simulate.sessions` — one visit planned as events (the funnel, identify, campaigns);
* :mod:`~lakepulse.simulate.schedule` — who visits when: each person's visits over the timeline;
* :mod:`~lakepulse.simulate.faults` — the fault kinds, each failing exactly one contract rule;
* :mod:`~lakepulse.simulate.generator` — :class:`Simulation`: the deterministic record stream;
* :mod:`~lakepulse.simulate.truth` — :class:`GroundTruth`: what silver and gold must hold;
* :mod:`~lakepulse.simulate.runner` — :func:`run_simulation`: sending with pacing and progress;
* :mod:`~lakepulse.simulate.clock`, :mod:`~lakepulse.simulate.wire` — times and JSON text, fast;
* :mod:`~lakepulse.simulate.command` — the ``lakepulse simulate`` sub-command.

Example::

    truth = run_simulation(ListSink(), SimulatorSettings(), events=10_000, now=datetime.now(UTC))
    truth.to_dict()["unique_valid_events"]
"""

from lakepulse.simulate.generator import SimulatedRecord, Simulation, generate
from lakepulse.simulate.runner import run_simulation
from lakepulse.simulate.truth import GroundTruth

__all__ = ["GroundTruth", "SimulatedRecord", "Simulation", "generate", "run_simulation"]
