"""Simulated time: integer epoch milliseconds, their Segment text form, and the four envelope times.

The simulator keeps every moment as an ``int`` of milliseconds since the Unix epoch (UTC), so the
skew arithmetic ``timestamp = receivedAt - (sentAt - originalTimestamp)`` holds exactly in the text
that is sent, and formats it without building ``datetime`` objects (a hot path: four per event).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# iso_ms splices "YYYY-MM-DDTHH:MM:" (per minute, cached) and "SS.mmmZ" (per millisecond of the minute).
_MINUTES: dict[int, str] = {}
_MAX_CACHED_MINUTES = 1_000_000
_SECONDS_MILLIS = [f"{second:02d}.{milli:03d}Z" for second in range(60) for milli in range(1000)]


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of a timezone-aware ``moment`` (sub-millisecond part dropped)."""
    if moment.tzinfo is None:
        raise ValueError(f"expected a timezone-aware datetime, got {moment!r}")
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    """The UTC ``datetime`` of epoch milliseconds ``ms``."""
    return _EPOCH + timedelta(milliseconds=ms)


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as Segment sends them, ``2026-01-31T23:59:59.123Z``; the same text as
    :func:`lakepulse.contract.iso` gives for the same moment."""
    minute, rest = divmod(ms, MINUTE_MS)
    head = _MINUTES.get(minute)
    if head is None:
        if len(_MINUTES) >= _MAX_CACHED_MINUTES:
            _MINUTES.clear()
        head = _MINUTES[minute] = from_ms(minute * MINUTE_MS).strftime("%Y-%m-%dT%H:%M:")
    return head + _SECONDS_MILLIS[rest]


def stamp(event: dict[str, Any], event_ms: int, delay_ms: int, latency_ms: int, skew_ms: int) -> None:
    """Set the four envelope times of ``event`` (in place) as an SDK and the collector would.

    ``event_ms`` is when it happened (true time), ``delay_ms`` how long the device held it before
    sending (batching, offline queue), ``latency_ms`` the network time to the collector and
    ``skew_ms`` how far the device clock is ahead of true time (may be negative). Then
    ``originalTimestamp`` and ``sentAt`` are device-clock readings, ``receivedAt`` is the
    collector's, and ``timestamp = receivedAt - (sentAt - originalTimestamp)`` is the corrected
    event time, ``event_ms + latency_ms``.
    """
    event["originalTimestamp"] = iso_ms(event_ms + skew_ms)
    event["sentAt"] = iso_ms(event_ms + delay_ms + skew_ms)
    event["receivedAt"] = iso_ms(event_ms + delay_ms + latency_ms)
    event["timestamp"] = iso_ms(event_ms + latency_ms)
