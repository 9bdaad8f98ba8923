"""How well segments recover known groups: the adjusted Rand index against the simulator's personas.

The simulator hides a persona in every person it simulates and writes it to its ground truth JSON
(``users`` maps the stitched user id — the id gold uses — to ``persona``). The adjusted Rand index
(Hubert & Arabie, 1985) compares two partitions of the same users: 1 is identical up to renaming,
about 0 is what random labels score, and it can go negative. Pure Python, no scikit-learn needed.

Example::

    personas = personas_from_truth(Path(".lakepulse/simulator/lakepulse.events.json"))
    adjusted_rand_index([personas[u] for u in users], [segment_of[u] for u in users])
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path


def _pairs(count: int) -> int:
    return count * (count - 1) // 2


def adjusted_rand_index(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> float:
    """The adjusted Rand index of two labelings of the same items (same order, same length).

    Returns 1.0 when both put all items in one group, or each item in its own group (the index is
    undefined there; scikit-learn returns 1.0 too). Raises ValueError on different lengths.
    """
    if len(truth) != len(predicted):
        raise ValueError(f"labelings differ in length: {len(truth)} and {len(predicted)}")
    return adjusted_rand_index_of_counts(Counter(zip(truth, predicted, strict=True)))


def adjusted_rand_index_of_counts(cells: Mapping[tuple[Hashable, Hashable], int]) -> float:
    """The adjusted Rand index from a contingency table: {(true group, predicted group): items}
    (what a ``GROUP BY persona, segment_id`` gives, so the users never leave the cluster)."""
    rows: Counter = Counter()
    columns: Counter = Counter()
    for (actual, segment), count in cells.items():
        rows[actual] += count
        columns[segment] += count
    joint = sum(_pairs(c) for c in cells.values())
    row_pairs = sum(_pairs(c) for c in rows.values())
    column_pairs = sum(_pairs(c) for c in columns.values())
    total = _pairs(sum(rows.values()))
    if total == 0:
        return 1.0
    expected = row_pairs * column_pairs / total
    maximum = (row_pairs + column_pairs) / 2
    if maximum == expected:
        return 1.0
    return (joint - expected) / (maximum - expected)


def contingency(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> dict[Hashable, Counter]:
    """How many items of each true group fell in each predicted group: {truth: Counter(predicted)}."""
    table: dict[Hashable, Counter] = {}
    for actual, segment in zip(truth, predicted, strict=True):
        table.setdefault(actual, Counter())[segment] += 1
    return dict(sorted(table.items(), key=lambda item: str(item[0])))


def personas_from_truth(path: Path) -> dict[str, str]:
    """User id → persona from a simulator ground truth file (``lakepulse simulate`` writes it)."""
    document = json.loads(path.read_text())
    return {user_id: entry["persona"] for user_id, entry in document.get("users", {}).items()}
