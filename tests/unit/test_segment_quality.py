"""The adjusted Rand index against known groups, checked by hand and against scikit-learn."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from sklearn.metrics import adjusted_rand_score

from lakepulse.segments.quality import (
    adjusted_rand_index,
    adjusted_rand_index_of_counts,
    contingency,
    personas_from_truth,
)


def test_identical_partitions_up_to_renaming_score_one() -> None:
    assert adjusted_rand_index(["a", "a", "b", "b", "c"], [7, 7, 3, 3, 0]) == 1.0


def test_a_small_case_computed_by_hand() -> None:
    # Contingency [[2, 1], [0, 2]]: sum C(n_ij, 2) = 1 + 0 + 0 + 1 = 2; rows (3, 2) -> 3 + 1 = 4;
    # columns (2, 3) -> 1 + 3 = 4; C(5, 2) = 10; expected 4 * 4 / 10 = 1.6; max 4.
    # ARI = (2 - 1.6) / (4 - 1.6) = 1/6.
    assert adjusted_rand_index(list("aaabb"), [0, 0, 1, 1, 1]) == pytest.approx(1 / 6)


def test_agrees_with_scikit_learn_on_random_labelings() -> None:
    rng = random.Random(3)
    for _ in range(20):
        n = rng.randint(2, 300)
        truth = [rng.randint(0, 4) for _ in range(n)]
        predicted = [t if rng.random() < 0.7 else rng.randint(0, 5) for t in truth]
        assert adjusted_rand_index(truth, predicted) == pytest.approx(adjusted_rand_score(truth, predicted))


def test_from_counts_equals_from_labels() -> None:
    truth, predicted = list("aaabbbcc"), [0, 0, 1, 1, 1, 2, 2, 0]
    cells = {(t, p): c for t, row in contingency(truth, predicted).items() for p, c in row.items()}
    assert adjusted_rand_index_of_counts(cells) == pytest.approx(adjusted_rand_index(truth, predicted))


def test_degenerate_partitions_and_length_mismatch() -> None:
    assert adjusted_rand_index([1, 1, 1], [2, 2, 2]) == 1.0
    assert adjusted_rand_index([1], [5]) == 1.0
    with pytest.raises(ValueError, match="differ in length"):
        adjusted_rand_index([1, 2], [1])


def test_personas_come_from_the_ground_truth_users(tmp_path: Path) -> None:
    path = tmp_path / "truth.json"
    path.write_text(json.dumps({"users": {"user-0000001": {"persona": "dormant", "orders": 0},
                                          "c0ffee": {"persona": "window_shopper"}}}))
    assert personas_from_truth(path) == {"user-0000001": "dormant", "c0ffee": "window_shopper"}
