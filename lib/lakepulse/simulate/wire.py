"""The JSON text of simulated events, assembled from pre-encoded fragments.

``contract.encode`` (``json.dumps``) costs about 10 µs for a 1 KB event on CPython 3.11 — half the
simulator's whole budget per event. Most of an event's bytes repeat (device, page, product, traits,
campaign), so the simulator encodes each of those once, with the same settings as
``contract.encode`` (compact separators, UTF-8, no ASCII escaping), and assembles an event from the
fragments with a few string concatenations. The layout is that of the contract builders
(:func:`~lakepulse.contract.track_event`, :func:`~lakepulse.contract.page_event`,
:func:`~lakepulse.contract.identify_event`) with the four times last; a unit test rebuilds every
valid record of a run with those builders and compares.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import Any

from lakepulse.simulate.clock import iso_ms

# The same settings as contract.encode: json.dumps(value, separators=(",", ":"), ensure_ascii=False).
json_text = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
json_string = encode_basestring  # what json_text does to a str


def members(obj: dict[str, Any]) -> str:
    """The JSON text of ``obj`` without its braces, to splice into a bigger object."""
    return json_text(obj)[1:-1]


def envelope_head(call_type: str, message_id: str, anonymous_id_json: str, user_member: str) -> str:
    """``{"type":…,"messageId":…,"anonymousId":…[,"userId":…],"context":`` (the context follows).

    ``call_type`` (a contract call type) and ``message_id`` (a UUID) need no escaping;
    ``anonymous_id_json`` is already JSON; ``user_member`` is ``,"userId":"…"`` or empty."""
    return (f'{{"type":"{call_type}","messageId":"{message_id}","anonymousId":{anonymous_id_json}'
            f'{user_member},"context":')


def times_tail(event_ms: int, delay_ms: int, latency_ms: int, skew_ms: int) -> str:
    """The four envelope times and the closing brace, as text: the same values as
    :func:`lakepulse.simulate.clock.stamp` sets on a dict."""
    return (f',"originalTimestamp":"{iso_ms(event_ms + skew_ms)}","sentAt":"{iso_ms(event_ms + delay_ms + skew_ms)}"'
            f',"receivedAt":"{iso_ms(event_ms + delay_ms + latency_ms)}","timestamp":"{iso_ms(event_ms + latency_ms)}"}}')
