"""segmentation settings: defaults from conf/local.yaml, overrides, and one-line errors naming the setting."""

from __future__ import annotations

import pytest

from lakepulse.paths import project_root
from lakepulse.segments.features import FEATURES
from lakepulse.settings import SettingsError, load_settings

LOCAL = project_root() / "conf" / "local.yaml"


def test_local_settings_use_every_feature_and_choose_k() -> None:
    segmentation = load_settings(path=LOCAL, environ={}).segmentation
    assert segmentation.features == list(FEATURES)
    assert segmentation.k == 0 and segmentation.k_min <= segmentation.k_max
    assert segmentation.model_version == ""


def test_environment_overrides_reach_segmentation() -> None:
    segmentation = load_settings(path=LOCAL, environ={
        "LAKEPULSE_SEGMENTATION__K": "4", "LAKEPULSE_SEGMENTATION__FEATURES": "recency,frequency",
        "LAKEPULSE_SEGMENTATION__MODEL_VERSION": "latest"}).segmentation
    assert (segmentation.k, segmentation.features, segmentation.model_version) == (4, ["recency", "frequency"],
                                                                                   "latest")


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("FEATURES", "recency,loyalty", "segmentation.features has unknown feature 'loyalty'"),
    ("FEATURES", "recency,recency", "segmentation.features names a feature twice"),
    ("K", "1", "segmentation.k must be 0 (choose by silhouette) or at least 2, got 1"),
    ("K_MAX", "2", "segmentation.k_max must be at least segmentation.k_min (3), got 2"),
    ("SEEDS", "0", "segmentation.seeds must be at least 1, got 0"),
    ("USER_SEGMENTS_TABLE", "segments", "segmentation.user_segments_table must be schema.table, got 'segments'"),
])
def test_a_bad_segmentation_setting_stops_with_one_line_naming_it(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(path=LOCAL, environ={f"LAKEPULSE_SEGMENTATION__{variable}": value})
    assert str(error.value).startswith(message)
    assert f"environment variable LAKEPULSE_SEGMENTATION__{variable}" in str(error.value)
    assert "\n" not in str(error.value)
