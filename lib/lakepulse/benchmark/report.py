"""The pipeline benchmark's results: ratios, goals, reconciliation, the printed table and the chart.

:func:`conclude` adds to a run's figures the ratios (pipeline ÷ native baseline, streaming ÷
batch), the goals of the issue with the measured value and whether it was met, and the
reconciliation of every stage's counts with the simulator's ground truth. :func:`table` renders
them as text; :func:`chart` draws them as one PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

GOAL_RATIO_TO_NATIVE = 0.35
GOAL_EVENTS_PER_SECOND = 100_000
GOAL_SILVER_P99_MS = 1_500
GOAL_GOLD_P99_MS = 3_000
GOAL_GROWTH_DROP = 0.20


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def reconcile(truth: dict[str, Any], counts: dict[str, int], stage: str) -> list[dict[str, Any]]:
    """A stream run's counts against the ground truth: ``bronze = records sent``,
    ``silver = unique valid events``, ``quarantine = faults quarantined``, ``duplicates dropped =
    duplicates sent``, gold read every silver row, ``gold people = stitched people``. A seeded
    history (``seeded_events``/``seeded_people`` in ``truth``) adds to silver rows and gold people."""
    pairs = [
        ("bronze rows", counts["bronze_rows"], truth["records_sent"]),
        ("silver rows", counts["silver_rows"], truth["unique_valid_events"] + truth.get("seeded_events", 0)),
        ("quarantine rows", counts["quarantine_rows"], truth["quarantine_total"]),
        ("duplicates dropped", counts["duplicates_dropped"], truth["duplicates_sent"]),
        ("silver metrics rows in", counts["silver_metrics_rows_in"], truth["records_sent"]),
        ("gold rows in", counts["gold_metrics_rows_in"], truth["unique_valid_events"]),
    ]
    if "people" in truth:
        pairs.append(("gold people", counts["gold_people"], distinct_people(truth)))
    return [{"stage": stage, "what": what, "measured": measured, "expected": expected, "ok": measured == expected}
            for what, measured, expected in pairs]


def distinct_people(truth: dict[str, Any]) -> int:
    """The people a run's lakehouse knows: the simulated ones that sent events, plus a seeded history's."""
    return truth["people"] + truth.get("seeded_people", 0)


def growth_goal(points: list[dict[str, Any]], failed: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """The growth goal from the first and last measured growth points (``failed``: the points
    that could not be measured). It only counts as shown when the distinct people in the
    lakehouse grew at least half as much as the points asked for."""
    first, last = points[0], points[-1]
    drop = 1 - last["events_per_second"] / first["events_per_second"]
    people = (distinct_people(first["truth"]), distinct_people(last["truth"]))
    goal = {"goal": f"throughput falls ≤ 20 % from {first['users']:.0e} to {last['users']:.0e} users",
            "target": GOAL_GROWTH_DROP, "measured": round(drop, 3), "lower_is_better": True,
            "distinct_people": list(people), "note": f"largest measured: {last['users']:.0e}" + "".join(
                f"; {f['users']:.0e} not measured" for f in failed)}
    if people[1] < 0.5 * people[0] * last["users"] / first["users"]:
        goal["not_shown"] = f"the lakehouse holds {people[0]:,} → {people[1]:,} distinct people"
    return goal


def conclude(figures: dict[str, Any]) -> dict[str, Any]:
    """Add ``ratios``, ``goals`` and ``reconciliation`` to ``figures`` (in place; also returned)."""
    truth = figures["load"]["truth"]
    native = figures["native"]["events_per_second"]
    together = figures.get("together", {}).get("events_per_second")
    sequential = figures["catch_up"]["events_per_second"]
    silver_stream = figures["catch_up"]["stages"]["silver"]["events_per_second"]
    figures["ratios"] = {
        "together_to_native": _ratio(together, native),
        "sequential_to_native": _ratio(sequential, native),
        "together_to_native_with_kafka_read": _ratio(together, figures["native_with_kafka_read"]["events_per_second"]),
        "silver_stream_to_silver_batch": _ratio(silver_stream, figures["spark_batch"]["events_per_second"]),
        "together_to_raw_kafka_read": _ratio(together, figures["raw_kafka_read"]["events_per_second"]),
    }
    goals = [
        {"goal": "bronze+silver+gold together ≥ 0.35 × native baseline", "target": GOAL_RATIO_TO_NATIVE,
         "measured": figures["ratios"]["together_to_native"]},
        {"goal": "bronze+silver+gold together ≥ 100,000 events/s", "target": GOAL_EVENTS_PER_SECOND,
         "measured": together},
    ]
    latency = figures.get("latency")
    if latency:
        goals += [
            {"goal": "p99 event → silver ≤ 1.5 s at half the maximum rate", "target": GOAL_SILVER_P99_MS,
             "measured": latency["silver"].get("p99"), "lower_is_better": True},
            {"goal": "p99 event → gold ≤ 3 s at half the maximum rate", "target": GOAL_GOLD_P99_MS,
             "measured": latency["gold"].get("p99"), "lower_is_better": True},
        ]
    points = figures.get("growth", {}).get("points", [])
    if len(points) >= 2:
        goals.append(growth_goal(points, figures["growth"].get("failed", [])))
        # The heap fills up to its maximum between collections by design (G1), so "bounded" is
        # judged on what stays after a full GC at the end of each run.
        retained = [p["memory"]["jvm_heap_retained_after_gc_mb"] / p["memory"]["jvm_heap_max_mb"] for p in points]
        goals.append({"goal": "memory bounded: JVM heap retained after GC < 50 % of max at every growth point",
                      "target": 0.5, "measured": round(max(retained), 3), "lower_is_better": True})
    for goal in goals:
        measured = goal["measured"]
        if measured is None or goal.get("not_shown"):
            goal["met"] = False
        elif goal.get("lower_is_better"):
            goal["met"] = measured <= goal["target"]
        else:
            goal["met"] = measured >= goal["target"]
    figures["goals"] = goals

    rows = [
        {"stage": "raw Kafka read", "what": "records read", "measured": figures["raw_kafka_read"]["events"],
         "expected": truth["records_sent"]},
        {"stage": "native baseline", "what": "written + set aside",
         "measured": figures["native"]["written"] + figures["native"]["set_aside"], "expected": truth["records_sent"]},
        {"stage": "spark batch", "what": "accepted (duplicates included)", "measured": figures["spark_batch"]["accepted"],
         "expected": truth["unique_valid_events"] + truth["duplicates_sent"]},
        {"stage": "spark batch", "what": "rejected", "measured": figures["spark_batch"]["rejected"],
         "expected": truth["quarantine_total"]},
    ]
    for row in rows:
        row["ok"] = row["measured"] == row["expected"]
    rows += reconcile(truth, figures["catch_up"]["counts"], "catch-up")
    if "together" in figures:
        rows += reconcile(truth, figures["together"]["counts"], "together")
    if latency:
        rows += reconcile(latency["producer"], latency["counts"], "latency")
    for point in points:
        runs = point.get("repeats") or [point]
        for n, run in enumerate(runs, 1):
            stage = f"growth {point['users']:.0e}" + (f" run {n}" if len(runs) > 1 else "")
            rows += reconcile(point["truth"], run["counts"], stage)
    # A growth point that could not be measured fails the run like a count that differs.
    rows += [{"stage": f"growth {failed['users']:.0e}", "what": f"measured ({failed['error']})", "measured": 0,
              "expected": 1, "ok": False} for failed in figures.get("growth", {}).get("failed", [])]
    figures["reconciliation"] = rows
    return figures


def _n(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and value < 10:
        return f"{value:,.3f}{unit}"
    return f"{value:,.0f}{unit}"


def table(figures: dict[str, Any]) -> str:
    """The figures as a text table, then the goals and the reconciliation."""
    lines = [f"{'measure':<58}{'value':>16}  note", "-" * 100]

    def row(name: str, value: Any, unit: str = "", note: str = "") -> None:
        lines.append(f"{name:<58}{_n(value, unit):>16}  {note}")

    raw, native, batch, cu = figures["raw_kafka_read"], figures["native"], figures["spark_batch"], figures["catch_up"]
    row("events loaded (faults at default rates)", figures["load"]["truth"]["records_sent"], "",
        f"{figures['load']['simulated_users']:,} simulated users, sent at {figures['load']['events_per_second']:,}/s")
    row("raw Kafka read (confluent-kafka), events/s", raw["events_per_second"], "",
        f"{raw['mb_per_second']} MB/s; {raw['events_per_cpu_second']:,} per CPU-s")
    row("native baseline (pyarrow JSON → Parquet), events/s", native["events_per_second"], "",
        f"{native['events_per_cpu_second']:,} per CPU-s; {native['set_aside']:,} set aside")
    row("native incl. the Kafka read, events/s", figures["native_with_kafka_read"]["events_per_second"])
    row("Spark batch: silver parse + validation, events/s", batch["events_per_second"], "",
        f"{batch['cpu']['events_per_cpu_second']:,} per CPU-s")
    for stage in ("bronze", "silver", "gold"):
        s = cu["stages"][stage]
        row(f"catch-up {stage} (available-now), events/s", s["events_per_second"], "",
            f"{s['rows_in']:,} rows in {s['seconds']:.1f} s; {s['cpu']['events_per_cpu_second']:,} per CPU-s")
    row("catch-up end to end (stages one after the other), events/s", cu["events_per_second"], "",
        f"{cu['cpu']['events_per_cpu_second']:,} per CPU-s")
    if "together" in figures:
        t = figures["together"]
        row("bronze+silver+gold together, end to end, events/s", t["events_per_second"], "",
            f"{t['seconds']:.1f} s, triggers {t['triggers']['bronze']}; {t['cpu']['events_per_cpu_second']:,} per CPU-s")
    for name, value in figures["ratios"].items():
        row(f"ratio {name.replace('_', ' ')}", value)
    latency = figures.get("latency")
    if latency:
        for stage in ("silver", "gold"):
            s = latency[stage]
            row(f"latency event → {stage} p50 / p95 / p99, ms", s.get("p99"), "",
                f"p50 {_n(s.get('p50'))}, p95 {_n(s.get('p95'))}; {s.get('batches', 0)} batches, "
                f"mean batch {_n(s.get('duration_ms_mean'))} ms")
        row("latency run: rate achieved, events/s", latency["producer"]["achieved_rate"], "",
            f"target {latency['rate']:,.0f}/s for {latency['seconds']:.0f} s; producer lag p50 "
            f"{latency['producer']['lag_ms'].get('p50', '—')} ms")
    for point in figures.get("growth", {}).get("points", []):
        memory = point["memory"]["peak_mb"]
        rates = [f"{run['events_per_second']:,}" for run in point.get("repeats") or [point]]
        each = f"fastest of {', '.join(rates)}; " if len(rates) > 1 else ""
        row(f"growth {point['users']:.0e} users: end to end, events/s", point["events_per_second"], "",
            f"{each}{point['counts']['gold_people']:,} people ({point['seeded']['people']:,} seeded in "
            f"{point['seeded']['seconds']:.0f} s); heap peak {memory['jvm_heap_used']:,} MB, retained "
            f"{point['memory']['jvm_heap_retained_after_gc_mb']:,} MB; JVM RSS {memory['jvm_rss']:,} MB, "
            f"Python RSS {memory['python_rss']:,} MB")
    for failed in figures.get("growth", {}).get("failed", []):
        lines.append(f"growth {failed['users']:.0e} users: not measured — {failed['error']}")
    lines += ["", "goals:"]
    for goal in figures["goals"]:
        verdict = "not shown" if goal.get("not_shown") else "met" if goal["met"] else "MISSED"
        why = f" ({goal['not_shown']})" if goal.get("not_shown") else ""
        lines.append(f"  [{verdict}] {goal['goal']}: measured {_n(goal['measured'])}{why}")
    bad = [r for r in figures["reconciliation"] if not r["ok"]]
    lines.append("")
    lines.append(f"reconciliation with the ground truth: {len(figures['reconciliation']) - len(bad)} of "
                 f"{len(figures['reconciliation'])} counts agree")
    lines += [f"  DIFFERS {r['stage']}: {r['what']} {r['measured']:,} ≠ {r['expected']:,}" for r in bad]
    machine = figures["machine"]
    lines.append(f"machine: {machine['cpus']} CPUs, load average {machine['load_average_at_start']} at start, "
                 f"{machine.get('load_average_at_end')} at end")
    return "\n".join(lines)


def chart(figures: dict[str, Any], path: Path) -> Path:
    """Throughput, latency, growth and the batch-time breakdown as one PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(15, 10))
    cu = figures["catch_up"]
    bars = {
        "raw Kafka read": figures["raw_kafka_read"]["events_per_second"],
        "native pyarrow": figures["native"]["events_per_second"],
        "Spark batch silver": figures["spark_batch"]["events_per_second"],
        **{f"catch-up {s}": cu["stages"][s]["events_per_second"] for s in ("bronze", "silver", "gold")},
        "catch-up end to end": cu["events_per_second"],
    }
    if "together" in figures:
        bars["together end to end"] = figures["together"]["events_per_second"]
    ax = axes[0][0]
    ax.barh(list(bars), list(bars.values()), color="#4c72b0")
    ax.axvline(GOAL_EVENTS_PER_SECOND, color="red", linestyle="--", label="goal 100,000/s")
    ax.axvline(GOAL_RATIO_TO_NATIVE * figures["native"]["events_per_second"], color="orange", linestyle=":",
               label="goal 0.35 × native")
    ax.set_xscale("log")
    ax.set_xlabel("events per second (log)")
    ax.set_title("Throughput on the same events")
    ax.legend(loc="lower right")
    ax.invert_yaxis()

    ax = axes[0][1]
    latency = figures.get("latency")
    if latency:
        names = ["p50", "p95", "p99"]
        for offset, (stage, goal) in enumerate((("silver", GOAL_SILVER_P99_MS), ("gold", GOAL_GOLD_P99_MS))):
            values = [latency[stage].get(n) or 0 for n in names]
            ax.bar([i + offset * 0.4 for i in range(3)], [v / 1000 for v in values], width=0.4,
                   label=f"event → {stage} (goal p99 ≤ {goal / 1000:g} s)")
        ax.set_xticks([i + 0.2 for i in range(3)], names)
        ax.set_ylabel("seconds")
        ax.set_title(f"Latency at {latency['rate']:,.0f} events/s")
        ax.legend()
    else:
        ax.set_axis_off()

    ax = axes[1][0]
    points = figures.get("growth", {}).get("points", [])
    if points:
        users = [p["users"] for p in points]
        ax.plot(users, [p["events_per_second"] for p in points], marker="o", label="end to end events/s")
        ax.set_xscale("log")
        ax.set_xlabel("distinct people in the lakehouse")
        ax.set_ylabel("events per second")
        ax.set_title("Growth")
        memory = ax.twinx()
        memory.plot(users, [p["memory"]["peak_mb"]["jvm_heap_used"] for p in points], color="gray", marker="s",
                    linestyle="--", label="peak JVM heap MB")
        memory.set_ylabel("MB")
        ax.legend(loc="lower left")
        memory.legend(loc="lower right")
    else:
        ax.set_axis_off()

    ax = axes[1][1]
    profile = cu.get("profile")
    if profile:
        labels, values = [], []
        for stage in ("silver", "gold"):
            batches = max(1, profile[stage].get("batches", 1))
            for action in profile[stage]["actions"][:6]:
                labels.append(f"{stage}: {action['site'].split(' → ')[0][-38:]} {action['site'].split(' ')[-1]}")
                values.append(action["seconds"] / batches)
        ax.barh(labels, values, color="#55a868")
        ax.invert_yaxis()
        ax.set_xlabel("seconds per batch (catch-up)")
        ax.set_title("Where a batch's time goes (top Spark actions)")
        ax.tick_params(axis="y", labelsize=7)
    else:
        ax.set_axis_off()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
