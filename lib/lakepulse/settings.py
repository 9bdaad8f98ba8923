"""Typed settings: ``conf/<env>.yaml`` plus ``LAKEPULSE_*`` environment overrides.

One YAML file per environment holds every setting; an environment variable overrides one setting by
its dotted path with ``__`` for the dots: ``LAKEPULSE_KAFKA__BOOTSTRAP_SERVERS=broker:9092`` sets
``kafka.bootstrap_servers``. Values from the environment are read as YAML scalars, so ``3`` is an
int and ``true`` a bool.

Everything is checked when loaded: an unknown key, a missing value, a wrong type or an
out-of-range value raises :class:`SettingsError` with one line that names the setting and where it
came from, e.g. ``kafka.bootstrap_servers is empty (conf/local.yaml)``.

Example::

    settings = load_settings("local")
    settings.kafka.bootstrap_servers
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lakepulse.paths import project_root

ENV_PREFIX = "LAKEPULSE_"
# LAKEPULSE_* variables that are not setting overrides.
_NOT_SETTINGS = ("LAKEPULSE_ENV", "LAKEPULSE_HOME", "LAKEPULSE_CONF", "LAKEPULSE_TEST_BOOTSTRAP", "LAKEPULSE_PYTHON")
_TRIGGER = re.compile(r"^(available_now|\d+ (milliseconds?|seconds?|minutes?))$")
_BOOTSTRAP = re.compile(r"^[\w.\-]+:\d+(,[\w.\-]+:\d+)*$")


class SettingsError(Exception):
    """A setting is missing or wrong; the message is one line naming it and its source."""


@dataclass(frozen=True)
class LocalBrokerSettings:
    """The single-node Kafka broker that ``lakepulse kafka start`` runs on this machine."""

    autostart: bool = True
    port: int = 19092
    controller_port: int = 19093
    heap: str = "1g"


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str = ""
    events_topic: str = "lakepulse.events"
    # Topics bronze subscribes to; empty means just ``events_topic``.
    ingest_topics: list[str] = field(default_factory=list)
    partitions: int = 3
    replication_factor: int = 1
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: int = 200_000
    fail_on_data_loss: bool = True
    local_broker: LocalBrokerSettings = field(default_factory=LocalBrokerSettings)

    @property
    def bronze_topics(self) -> list[str]:
        return self.ingest_topics or [self.events_topic]


@dataclass(frozen=True)
class SparkSettings:
    # Empty on clusters: spark-submit (or Databricks) says where the job runs, never the code.
    master: str = ""
    shuffle_partitions: int = 2
    driver_memory: str = "2g"
    ui_enabled: bool = True
    log_level: str = "WARN"
    # Extra Spark configuration, applied as given (e.g. spark.sql.files.maxPartitionBytes).
    conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LakehouseSettings:
    """Where tables and checkpoints live and what they are called in the catalog."""

    root: str = ""
    checkpoints: str = ""
    # Catalog prefix for table names (Unity Catalog: "main"); empty means schema.table.
    catalog: str = ""
    register_tables: bool = True
    # Every this many micro-batches, the silver and gold streams compact the tables they write
    # (OPTIMIZE, small files only); 0 leaves it to a scheduled OPTIMIZE. Delta's auto compaction is
    # off: it compacted a table after every 1-row append (1-2 s per batch, measured).
    compact_every_batches: int = 100


@dataclass(frozen=True)
class BronzeSettings:
    trigger: str = "10 seconds"
    table: str = "bronze.events_raw"


@dataclass(frozen=True)
class SimulatorSettings:
    """``lakepulse simulate``: who the simulated shoppers are, what they browse and which faults are
    injected. ``persona_*`` are shares of the users (they add up to 1); ``*_rate`` are fractions of
    the records sent (together at most 1)."""

    seed: int = 42
    events: int = 100_000              # records per run when the command gives no --events/--rate
    users: int = 10_000                # simulated people
    products: int = 2_000              # catalogue size
    history_days: float = 3.0          # the simulated timeline: this many days up to now
    currency: str = "USD"
    second_device_share: float = 0.2   # share of people who also browse on a second device
    persona_window_shopper: float = 0.30
    persona_bargain_hunter: float = 0.20
    persona_loyal_high_spender: float = 0.10
    persona_one_time_buyer: float = 0.15
    persona_dormant: float = 0.25
    duplicate_rate: float = 0.01       # re-sends of a valid record (silver drops them as duplicates)
    malformed_json_rate: float = 0.001       # fails json_object
    missing_message_id_rate: float = 0.001   # fails message_id_present
    missing_identity_rate: float = 0.001     # fails identity_present
    wrong_type_rate: float = 0.001           # fails revenue_numeric or prices_numeric
    unknown_event_rate: float = 0.001        # fails known_event_name
    future_timestamp_rate: float = 0.001     # fails timestamp_plausible
    oversized_rate: float = 0.0005           # fails payload_size
    late_rate: float = 0.01            # valid events sent minutes to hours late (silver keeps them)
    # Where the ground truth JSON goes (one file per topic); relative to the project root.
    ground_truth_dir: str = ".lakepulse/simulator"


@dataclass(frozen=True)
class SilverSettings:
    trigger: str = "10 seconds"
    events_table: str = "silver.events"
    quarantine_table: str = "silver.quarantine"
    identity_table: str = "silver.identity_map"
    sessions_table: str = "silver.sessions"
    metrics_table: str = "ops.pipeline_metrics"
    # A messageId seen again within this many hours (by ingest time) is a duplicate.
    dedup_horizon_hours: int = 24
    # Events older than (latest event time seen − this) are late: still kept, and counted.
    allowed_lateness_seconds: int = 600
    session_gap_seconds: int = 1800
    max_payload_bytes: int = 32 * 1024
    max_future_seconds: int = 3600
    max_files_per_trigger: int = 1000
    # Rule name → quarantine | warn | off; rules not listed quarantine.
    rules: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GoldSettings:
    """The build_gold stream (silver → gold), the reports it publishes and the reports folder."""

    trigger: str = "30 seconds"
    user_profile_table: str = "gold.user_profile"
    product_metrics_table: str = "gold.product_metrics"
    user_activity_table: str = "gold.user_activity_hourly"
    funnel_daily_table: str = "gold.funnel_daily"
    # Each person's best funnel attempt per day: funnel_daily is summed from it for the days a batch changes.
    funnel_attempts_table: str = "gold.funnel_attempts"
    # Closed (user, hour) windows of user_activity_hourly are published here as JSON.
    reports_topic: str = "lakepulse.marketing_reports"
    # A window closes when the latest event time seen passes its end by this much (the watermark).
    report_delay_seconds: int = 600
    # The default e-commerce funnel's conversion window.
    funnel_window_seconds: int = 86_400
    # Hot products compare the last N hours with the N hours before.
    hot_products_hours: int = 24
    max_files_per_trigger: int = 1000
    # RFM: every profile is rescored against the whole table at most this long after the last
    # rescore (0: on every batch), or sooner once the profiles have grown by this fraction; in
    # between, the profiles a batch changes are scored against the last rescore's cuts.
    rfm_rescore_seconds: int = 3600
    rfm_rescore_growth: float = 0.1
    # Charts and HTML reports; relative paths are under the project root.
    reports_dir: str = ".lakepulse/lakehouse/reports"
    # SQL views for common questions (one CREATE VIEW per .sql file).
    sql_dir: str = "conf/sql"


@dataclass(frozen=True)
class SegmentationSettings:
    """The segment_users batch job: per-user features from ``gold.user_profile``, MLlib KMeans,
    the segment tables and the saved (versioned) models."""

    user_segments_table: str = "gold.user_segments"
    segment_profiles_table: str = "gold.segment_profiles"
    runs_table: str = "ops.segmentation_runs"
    # Per-user features in order: names from lakepulse.segments.features.FEATURES.
    features: list[str] = field(default_factory=lambda: [
        "recency", "frequency", "monetary", "average_order_value", "sessions", "views", "cart_rate",
        "view_to_order", "category_diversity", "tenure", "active_days"])
    k: int = 0                  # number of segments; 0 chooses it over k_min..k_max by silhouette
    k_min: int = 3
    k_max: int = 8
    seeds: int = 5              # k-means runs with seeds seed, seed+1, …; the lowest cost is kept
    seed: int = 42
    init_steps: int = 5         # k-means|| rounds (Spark's default is 2)
    max_iter: int = 60
    # Converged when no centroid moves more than this (standard deviations): about scikit-learn's default.
    tol: float = 0.005
    # Fit on a uniform sample of at most this many users (0: all of them); every user is scored.
    fit_sample_rows: int = 200_000
    # k is chosen, and the silhouette measured, on a sample of at most this many users.
    evaluation_sample_rows: int = 50_000
    # Saved pipelines (scaler + model), one folder per version; relative paths are under the project root.
    models_dir: str = ".lakepulse/models/segments"
    # Empty: fit a new model every run; a version, or "latest": score with that saved model instead.
    model_version: str = ""
    # Simulator ground truth for the adjusted Rand index; empty: the simulator's file for kafka.events_topic.
    ground_truth_file: str = ""


@dataclass(frozen=True)
class PrivacySettings:
    # Never in the repository: set LAKEPULSE_PRIVACY__SALT, or name a salt_file (local runs create
    # one with a random salt, in the git-ignored runtime folder).
    salt: str = ""
    salt_file: str = ""


@dataclass(frozen=True)
class Settings:
    env: str
    source: str  # the file the settings came from, for messages
    # Relative paths resolve against this folder: the project holding conf/<env>.yaml.
    base_dir: str = ""
    spark: SparkSettings = field(default_factory=SparkSettings)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    lakehouse: LakehouseSettings = field(default_factory=LakehouseSettings)
    bronze: BronzeSettings = field(default_factory=BronzeSettings)
    simulator: SimulatorSettings = field(default_factory=SimulatorSettings)
    silver: SilverSettings = field(default_factory=SilverSettings)
    gold: GoldSettings = field(default_factory=GoldSettings)
    segmentation: SegmentationSettings = field(default_factory=SegmentationSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)

    def resolve_path(self, value: str) -> str:
        """A path from settings: URIs (s3://, abfss://, dbfs:/, file:) and absolute paths as given;
        relative paths against the project root."""
        if re.match(r"^[a-zA-Z][\w+.\-]*:", value) or value.startswith("/"):
            return value
        return str(Path(self.base_dir or project_root()) / value)

    @property
    def lakehouse_root(self) -> str:
        return self.resolve_path(self.lakehouse.root)

    @property
    def checkpoint_root(self) -> str:
        return self.resolve_path(self.lakehouse.checkpoints)


def default_settings_file(env: str) -> Path:
    return project_root() / "conf" / f"{env}.yaml"


def load_settings(
    env: str | None = None,
    path: str | Path | None = None,
    environ: typing.Mapping[str, str] | None = None,
) -> Settings:
    """Load and validate settings.

    ``env`` names ``conf/<env>.yaml`` (default: ``LAKEPULSE_ENV`` or ``local``); ``path`` points at
    a settings file directly (as spark-submit ships it). ``environ`` defaults to ``os.environ``.
    Raises :class:`SettingsError` on any problem.
    """
    environ = os.environ if environ is None else environ
    env = env or environ.get("LAKEPULSE_ENV") or "local"
    settings_path = Path(path) if path else default_settings_file(env)
    source = _display(settings_path)
    if not settings_path.is_file():
        raise SettingsError(f"settings file {source} does not exist (env {env!r})")
    try:
        raw = yaml.safe_load(settings_path.read_text()) or {}
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" line {line + 1}" if line is not None else ""
        raise SettingsError(f"{source}{where} is not valid YAML") from None
    if not isinstance(raw, dict):
        raise SettingsError(f"{source} must hold a mapping of settings")
    raw.setdefault("env", env)
    origins: dict[str, str] = {}
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name in _NOT_SETTINGS:
            continue
        dotted = name[len(ENV_PREFIX):].lower().split("__")
        _set_nested(raw, dotted, _env_value(value), name)
        origins[".".join(dotted)] = f"environment variable {name}"
    raw["source"] = source
    folder = settings_path.resolve().parent
    raw["base_dir"] = str(folder.parent if folder.name == "conf" else folder)
    settings = _build(Settings, raw, "", source, origins)
    _validate(settings, source, origins)
    return settings


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(project_root()))
    except ValueError:
        return str(path)


def _env_value(value: str) -> Any:
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    return value if parsed is None else parsed


def _set_nested(raw: dict, keys: list[str], value: Any, var: str) -> None:
    node = raw
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise SettingsError(f"{var} sets inside {key}, which is not a section")
        node = child
    node[keys[-1]] = value


def _where(dotted: str, source: str, origins: dict[str, str]) -> str:
    return origins.get(dotted, source)


def _build(cls: type, data: Any, prefix: str, source: str, origins: dict[str, str]) -> Any:
    section = prefix.rstrip(".") or "settings"
    if not isinstance(data, dict):
        raise SettingsError(f"{section} must be a mapping ({_where(section, source, origins)})")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise SettingsError(f"unknown setting {prefix}{key} ({_where(prefix + str(key), source, origins)})")
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        dotted = prefix + f.name
        values[f.name] = _coerce(hints[f.name], data[f.name], dotted, source, origins)
    return cls(**values)


def _coerce(hint: Any, value: Any, dotted: str, source: str, origins: dict[str, str]) -> Any:
    where = _where(dotted, source, origins)
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value if value is not None else {}, dotted + ".", source, origins)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        inner = [a for a in typing.get_args(hint) if a is not type(None)][0]
        return _coerce(inner, value, dotted, source, origins)
    if value is None:
        raise SettingsError(f"{dotted} is missing a value ({where})")
    if origin is list:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list):
            raise SettingsError(f"{dotted} must be a list, got {value!r} ({where})")
        return [_coerce(typing.get_args(hint)[0], item, dotted, source, origins) for item in items]
    if origin is dict:
        if not isinstance(value, dict):
            raise SettingsError(f"{dotted} must be a mapping, got {value!r} ({where})")
        return {str(k): str(v) for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise SettingsError(f"{dotted} must be true or false, got {value!r} ({where})")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{dotted} must be a whole number, got {value!r} ({where})")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingsError(f"{dotted} must be a number, got {value!r} ({where})")
        return float(value)
    if hint is str:
        if isinstance(value, (dict, list)):
            raise SettingsError(f"{dotted} must be text, got {value!r} ({where})")
        return str(value).strip()
    raise TypeError(f"unsupported settings type {hint!r} for {dotted}")


def _validate(s: Settings, source: str, origins: dict[str, str]) -> None:
    def fail(dotted: str, problem: str) -> None:
        raise SettingsError(f"{dotted} {problem} ({_where(dotted, source, origins)})")

    if not s.kafka.bootstrap_servers:
        fail("kafka.bootstrap_servers", "is empty")
    if not _BOOTSTRAP.match(s.kafka.bootstrap_servers):
        fail("kafka.bootstrap_servers", f"must be host:port[,host:port...], got {s.kafka.bootstrap_servers!r}")
    if not s.kafka.events_topic:
        fail("kafka.events_topic", "is empty")
    for name, value, low in [
        ("kafka.partitions", s.kafka.partitions, 1),
        ("kafka.replication_factor", s.kafka.replication_factor, 1),
        ("kafka.max_offsets_per_trigger", s.kafka.max_offsets_per_trigger, 1),
        ("kafka.local_broker.port", s.kafka.local_broker.port, 1),
        ("kafka.local_broker.controller_port", s.kafka.local_broker.controller_port, 1),
        ("spark.shuffle_partitions", s.spark.shuffle_partitions, 1),
        ("lakehouse.compact_every_batches", s.lakehouse.compact_every_batches, 0),
    ]:
        if value < low:
            fail(name, f"must be at least {low}, got {value}")
    if s.kafka.local_broker.port == s.kafka.local_broker.controller_port:
        fail("kafka.local_broker.controller_port", "must differ from kafka.local_broker.port")
    if s.kafka.starting_offsets not in ("earliest", "latest") and not s.kafka.starting_offsets.startswith("{"):
        fail("kafka.starting_offsets", f"must be earliest, latest or a JSON offsets map, got {s.kafka.starting_offsets!r}")
    if not s.lakehouse.root:
        fail("lakehouse.root", "is empty")
    if not s.lakehouse.checkpoints:
        fail("lakehouse.checkpoints", "is empty")
    if not _TRIGGER.match(s.bronze.trigger):
        fail("bronze.trigger", f"must be available_now or an interval like '10 seconds', got {s.bronze.trigger!r}")
    for name in ("bronze.table", "silver.events_table", "silver.quarantine_table", "silver.identity_table",
                 "silver.sessions_table", "silver.metrics_table", "gold.user_profile_table",
                 "gold.product_metrics_table", "gold.user_activity_table", "gold.funnel_daily_table",
                 "gold.funnel_attempts_table"):
        section, key = name.split(".")
        value = getattr(getattr(s, section), key)
        if not re.match(r"^\w+\.\w+$", value):
            fail(name, f"must be schema.table, got {value!r}")
    if not _TRIGGER.match(s.silver.trigger):
        fail("silver.trigger", f"must be available_now or an interval like '10 seconds', got {s.silver.trigger!r}")
    for name in ("dedup_horizon_hours", "allowed_lateness_seconds", "session_gap_seconds", "max_payload_bytes",
                 "max_future_seconds", "max_files_per_trigger"):
        if getattr(s.silver, name) < 1:
            fail(f"silver.{name}", f"must be at least 1, got {getattr(s.silver, name)}")
    if not _TRIGGER.match(s.gold.trigger):
        fail("gold.trigger", f"must be available_now or an interval like '30 seconds', got {s.gold.trigger!r}")
    if not s.gold.reports_topic:
        fail("gold.reports_topic", "is empty")
    for name in ("report_delay_seconds", "funnel_window_seconds", "hot_products_hours", "max_files_per_trigger"):
        if getattr(s.gold, name) < 1:
            fail(f"gold.{name}", f"must be at least 1, got {getattr(s.gold, name)}")
    if s.gold.rfm_rescore_seconds < 0:
        fail("gold.rfm_rescore_seconds", f"must be at least 0, got {s.gold.rfm_rescore_seconds}")
    if s.gold.rfm_rescore_growth <= 0:
        fail("gold.rfm_rescore_growth", f"must be above 0, got {s.gold.rfm_rescore_growth}")
    for name in ("reports_dir", "sql_dir"):
        if not getattr(s.gold, name):
            fail(f"gold.{name}", "is empty")
    _validate_segmentation(s.segmentation, fail)
    from lakepulse.contract import RULE_NAMES

    for rule, mode in s.silver.rules.items():
        if rule not in RULE_NAMES:
            fail(f"silver.rules.{rule}", f"is not a contract rule (rules: {', '.join(RULE_NAMES)})")
        if mode not in ("quarantine", "warn", "off"):
            fail(f"silver.rules.{rule}", f"must be quarantine, warn or off, got {mode!r}")

    simulator = s.simulator
    for name, value in [("simulator.events", simulator.events), ("simulator.users", simulator.users),
                        ("simulator.products", simulator.products)]:
        if value < 1:
            fail(name, f"must be at least 1, got {value}")
    if not simulator.history_days > 0:
        fail("simulator.history_days", f"must be more than 0, got {simulator.history_days}")
    if not re.match(r"^[A-Z]{3}$", simulator.currency):
        fail("simulator.currency", f"must be a three-letter ISO 4217 code like USD, got {simulator.currency!r}")
    if not simulator.ground_truth_dir:
        fail("simulator.ground_truth_dir", "is empty")
    shares = {f.name: getattr(simulator, f.name) for f in dataclasses.fields(simulator)
              if f.name.startswith("persona_") or f.name.endswith(("_rate", "_share"))}
    for name, value in shares.items():
        if not 0.0 <= value <= 1.0:
            fail(f"simulator.{name}", f"must be between 0 and 1, got {value}")
    persona_total = sum(v for k, v in shares.items() if k.startswith("persona_"))
    if abs(persona_total - 1.0) > 1e-6:
        fail("simulator.persona_*", f"shares must add up to 1, got {persona_total:g}")
    fault_total = sum(v for k, v in shares.items() if k.endswith("_rate"))
    if fault_total > 1.0:
        fail("simulator.*_rate", f"fault rates must add up to at most 1, got {fault_total:g}")


def _validate_segmentation(seg: SegmentationSettings, fail: typing.Callable[[str, str], None]) -> None:
    from lakepulse.segments.features import FEATURES

    for key in ("user_segments_table", "segment_profiles_table", "runs_table"):
        if not re.match(r"^\w+\.\w+$", getattr(seg, key)):
            fail(f"segmentation.{key}", f"must be schema.table, got {getattr(seg, key)!r}")
    if not seg.features:
        fail("segmentation.features", "is empty")
    for name in seg.features:
        if name not in FEATURES:
            fail("segmentation.features", f"has unknown feature {name!r} (features: {', '.join(FEATURES)})")
    if len(set(seg.features)) != len(seg.features):
        fail("segmentation.features", "names a feature twice")
    if seg.k != 0 and seg.k < 2:
        fail("segmentation.k", f"must be 0 (choose by silhouette) or at least 2, got {seg.k}")
    if seg.k_min < 2:
        fail("segmentation.k_min", f"must be at least 2, got {seg.k_min}")
    if seg.k_max < seg.k_min:
        fail("segmentation.k_max", f"must be at least segmentation.k_min ({seg.k_min}), got {seg.k_max}")
    for key in ("seeds", "init_steps", "max_iter"):
        if getattr(seg, key) < 1:
            fail(f"segmentation.{key}", f"must be at least 1, got {getattr(seg, key)}")
    if not seg.tol >= 0:
        fail("segmentation.tol", f"must be at least 0, got {seg.tol}")
    if seg.fit_sample_rows < 0:
        fail("segmentation.fit_sample_rows", f"must be 0 (all users) or more, got {seg.fit_sample_rows}")
    if seg.evaluation_sample_rows < 100:
        fail("segmentation.evaluation_sample_rows", f"must be at least 100, got {seg.evaluation_sample_rows}")
    if not seg.models_dir:
        fail("segmentation.models_dir", "is empty")


def privacy_salt(settings: Settings) -> str:
    """The pseudonymisation salt: ``privacy.salt``, else the content of ``privacy.salt_file``
    (created with a random salt the first time). Raises SettingsError when neither is set."""
    if settings.privacy.salt:
        return settings.privacy.salt
    if not settings.privacy.salt_file:
        raise SettingsError(
            f"privacy.salt is empty ({settings.source}); set LAKEPULSE_PRIVACY__SALT or privacy.salt_file"
        )
    path = Path(settings.resolve_path(settings.privacy.salt_file))
    if not path.exists():
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
