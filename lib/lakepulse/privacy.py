"""Pseudonymisation: from silver on, direct identifiers are salted hashes and IPs are truncated.

Raw values stay only in bronze (bytes as they came from Kafka). Silver and everything built from it
hold, instead of:

* an **email address** anywhere in any string column (``user_id``, ``anonymous_id``, the JSON texts
  ``properties``/``traits``/``context``/``extra``, strings nested in structs, arrays and maps):
  ``hash_identifier(email)``, so a userId that is an email and ``traits.email`` hash alike;
* the **string or number value of a direct-identifier key** (``DIRECT_IDENTIFIER_KEYS``: phone,
  first/last name, name, username, address, street, …) in ``traits`` and in ``context.traits``:
  its hash. ``properties`` is left alone (``products[].name`` is a product name), and so is the
  rest of ``context`` for ``TRAITS_ONLY_KEYS`` (``campaign.name``, ``app.name``, ``os.name``);
* an **IP address** in ``context_ip`` and under an ``"ip"`` key (``IP_KEYS``) in the JSON texts:
  its network (IPv4 /24, IPv6 /48); anything that is not an IP address becomes null.

Everything is built from Spark SQL functions (``regexp_extract_all`` + ``aggregate`` + ``replace``),
no Python UDFs, and every step is idempotent: pseudonymising twice gives the same result as once.

The salt comes from settings (``privacy.salt`` / ``LAKEPULSE_PRIVACY__SALT``), never from the
repository. It appears as a literal in query plans: keep the Spark UI and event logs private, or
redact it with ``spark.sql.redaction.string.regex``.

Example::

    silver_events = parsed.transform(pseudonymise, settings.privacy.salt)
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DataType, MapType, StringType, StructType

SALT_MISSING = "privacy.salt is empty: set LAKEPULSE_PRIVACY__SALT"

# "h:" + 64 lowercase hex digits; the prefix tells a pseudonym from a raw value at a glance.
HASH_PREFIX = "h:"
HASHED_VALUE_PATTERN = r"h:[0-9a-f]{64}"

# An email address; "%40" is the URL-encoded "@" found in page URLs and referrers
# (…?email=alice%40example.com), hashed as the decoded address. The look-behind lets a match start
# only where a run of local-part characters starts: without it a long token (a 2 kB URL path) costs
# time quadratic in its length.
EMAIL_PATTERN = r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9.-]+\.[A-Za-z]{2,}"

# JSON keys (matched case-insensitively) whose string or number values identify a person directly.
# Emails are also hashed wherever they appear, with or without a key.
DIRECT_IDENTIFIER_KEYS = (
    "email", "phone", "mobile", "firstName", "first_name", "lastName", "last_name", "name",
    "username", "address", "street",
)
# Direct identifiers inside traits only: elsewhere in the context object "name" names a campaign,
# an app, a library or an OS, which analytics needs.
TRAITS_ONLY_KEYS = ("name",)
# JSON keys (case-insensitive) whose string value is an IP address.
IP_KEYS = ("ip", "ip_address", "ipAddress", "client_ip", "clientIp")
# Columns holding JSON text.
JSON_TEXT_COLUMNS = ("properties", "traits", "context", "extra")

_JSON_STRING = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
_JSON_NUMBER = r"-?[0-9][0-9.eE+-]*+"
# A JSON object with objects nested up to two levels inside it (regexes cannot count braces).
_JSON_OBJECT_1 = r'\{(?:[^{}"]++|' + _JSON_STRING + r")*+\}"
_JSON_OBJECT_2 = r'\{(?:[^{}"]++|' + _JSON_STRING + "|" + _JSON_OBJECT_1 + r")*+\}"
_JSON_OBJECT_3 = r'\{(?:[^{}"]++|' + _JSON_STRING + "|" + _JSON_OBJECT_2 + r")*+\}"
_KEY_NAME = re.compile(r"^\w+$")

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
IPV4_PATTERN = r"^" + _OCTET + r"(?:\." + _OCTET + r"){3}$"


def _require_salt(salt: str) -> None:
    if not salt or not salt.strip():
        raise ValueError(SALT_MISSING)


def _key_alternatives(keys: Sequence[str]) -> str:
    bad = [key for key in keys if not _KEY_NAME.match(key)]
    if not keys or bad:
        raise ValueError(f"JSON keys must be non-empty word characters only, got {list(keys)!r}")
    return "(?i:" + "|".join(keys) + ")"


def _replace_matches(
    text: Column, pattern: str, replacement: Callable[[Column], Column], *, hint: Column | None = None
) -> Column:
    """``text`` with every distinct match of the Java regex ``pattern`` replaced by ``replacement(match)``.

    Null stays null. Matches are replaced longest first, so one that contains another
    (``xa@b.io`` and ``a@b.io``) is replaced whole. ``hint``, when given, is a cheap condition
    every text with a match satisfies (e.g. it contains "@"): texts failing it skip the regex.
    """
    matches = F.array_distinct(F.regexp_extract_all(text, F.lit(pattern), 0))
    longest_first = F.array_sort(matches, lambda left, right: F.length(right) - F.length(left))
    replaced = F.aggregate(longest_first, text, lambda replaced, match: F.replace(replaced, match, replacement(match)))
    # Most texts hold nothing to replace: one regex scan spares them the (interpreted) array functions.
    has_match = text.rlike(pattern) if hint is None else hint & text.rlike(pattern)
    return F.when(has_match, replaced).otherwise(text)


def hash_identifier(value: Column, salt: str) -> Column:
    """The pseudonym of an identifier: ``"h:" + sha2(salt + lower(trim(value)), 256)``.

    Stable (the same identifier always gives the same pseudonym for one salt, whatever its case or
    surrounding spaces), salted (the hash of a known email cannot be looked up without the salt),
    66 characters. Null stays null.

    Example::

        events.withColumn("user_id", hash_identifier(F.col("user_id"), salt))
    """
    _require_salt(salt)
    return F.concat(F.lit(HASH_PREFIX), F.sha2(F.concat(F.lit(salt), F.lower(F.trim(value))), 256))


def hash_emails(text: Column, salt: str) -> Column:
    """``text`` with every email address in it replaced by its ``hash_identifier``.

    Finds addresses anywhere (a whole userId, inside JSON text, in a URL query string, where
    ``%40`` stands for ``@``). Text without an address is returned unchanged; null stays null.

    Example::

        hash_emails(F.lit('{"email":"Ann@X.io"}'), salt)   # '{"email":"h:…"}'
    """
    _require_salt(salt)
    return _replace_matches(
        text, EMAIL_PATTERN,
        lambda email: hash_identifier(F.replace(email, F.lit("%40"), F.lit("@")), salt),
        hint=_may_hold_email(text),
    )


def _may_hold_email(text: Column) -> Column:
    # A byte search: every EMAIL_PATTERN match holds one of these, and most strings hold neither.
    return text.contains("@") | text.contains("%40")


def _may_hold_keys(text: Column, keys: Sequence[str]) -> Column:
    """A byte search: true for every text holding a member ``"key":`` of ``keys`` as the regexes
    match them (case-insensitive, ASCII only, like Java's ``(?i)``); most texts hold none, and
    those skip the regex. ``key"`` is searched for in the lower-cased text."""
    needles = sorted({key.lower() + '"' for key in keys}, key=len)
    # A needle that contains a shorter one adds nothing ("client_ip" holds "ip").
    needles = [n for i, n in enumerate(needles) if not any(shorter in n for shorter in needles[:i])]
    lowered = F.lower(text)
    return functools.reduce(lambda either, needle: either | lowered.contains(needle),
                            needles[1:], lowered.contains(needles[0]))


def _member_pattern(keys: Sequence[str]) -> str:
    # group 1: '"key":' ; group 2: a string value not hashed yet ; group 3: a number value.
    return (
        r'("' + _key_alternatives(keys) + r'"\s*:\s*)'
        r'(?:"(?!' + HASHED_VALUE_PATTERN + r'")([^"\\]*+(?:\\.[^"\\]*+)*+)"|(' + _JSON_NUMBER + "))"
    )


def _hash_members(json_text: Column, keys: Sequence[str], salt: str) -> Column:
    pattern = _member_pattern(keys)

    def hashed(member: Column) -> Column:
        value = F.concat(F.regexp_extract(member, pattern, 2), F.regexp_extract(member, pattern, 3))
        return F.when(value == "", member).otherwise(
            F.concat(F.regexp_extract(member, pattern, 1), F.lit('"'), hash_identifier(value, salt), F.lit('"'))
        )

    return _replace_matches(json_text, pattern, hashed, hint=_may_hold_keys(json_text, keys))


def hash_json_fields(json_text: Column, keys: Sequence[str], salt: str, *, within: str | None = None) -> Column:
    """JSON text with the values of ``keys`` (case-insensitive, at any depth) replaced by their hash.

    String and number values are hashed (the result is a JSON string ``"h:…"``); objects, arrays,
    booleans, nulls and empty strings are kept, and so are values already hashed. With ``within``,
    only members of the objects under that key are touched (e.g. ``within="traits"`` on the context
    text hashes ``context.traits.name`` but not ``context.campaign.name``); such an object may hold
    objects nested up to two levels. The text is matched with regexes, not parsed, so invalid JSON
    is handled as well as it can be; null stays null.

    Example::

        hash_json_fields(F.col("traits"), DIRECT_IDENTIFIER_KEYS, salt)
        # {"name":"Ann Lee","plan":"pro"} -> {"name":"h:…","plan":"pro"}
    """
    _require_salt(salt)
    _key_alternatives(keys)
    if within is None:
        return _hash_members(json_text, keys, salt)
    scope = r'("' + _key_alternatives([within]) + r'"\s*:\s*)(' + _JSON_OBJECT_3 + ")"
    return _replace_matches(
        json_text, scope,
        lambda member: F.concat(
            F.regexp_extract(member, scope, 1), _hash_members(F.regexp_extract(member, scope, 2), keys, salt)
        ),
        hint=_may_hold_keys(json_text, [within]),
    )


def truncate_ip(ip: Column) -> Column:
    """The network of an IP address: IPv4 → /24, IPv6 → /48; anything else → null.

    ``"203.0.113.77"`` → ``"203.0.113.0"``; ``"2001:db8:85a3:8d3:1319:8a2e:370:7348"`` →
    ``"2001:db8:85a3::"`` (first three hextets, lowercase, leading zeros and trailing zero
    hextets dropped: ``"2001:0DB8::1"`` → ``"2001:db8::"``); an IPv4-mapped IPv6 address
    (``"::ffff:203.0.113.77"``) is truncated as IPv4. Surrounding spaces are ignored.
    """
    address = F.trim(ip)
    ipv4 = F.regexp_replace(address, r"^(?i)::ffff:(?=[0-9.]+$)", "")
    ipv4_network = F.regexp_replace(ipv4, r"\.[0-9]+$", ".0")

    halves = F.split(address, "::", -1)
    head = F.when(F.element_at(halves, 1) == "", F.array().cast("array<string>")).otherwise(
        F.split(F.element_at(halves, 1), ":"))
    tail = F.when(F.coalesce(F.element_at(halves, 2), F.lit("")) == "", F.array().cast("array<string>")).otherwise(
        F.split(F.element_at(halves, 2), ":"))
    elided = 8 - F.size(head) - F.size(tail)
    hextets = F.when(F.size(halves) == 1, head).otherwise(
        F.concat(head, F.array_repeat(F.lit("0"), F.greatest(elided, F.lit(0))), tail))
    is_ipv6 = (
        address.rlike(r"^[0-9A-Fa-f:]+$")
        & (F.size(halves) <= 2)
        & ((F.size(halves) == 1) | (elided >= 1))
        & (F.size(hextets) == 8)
        & F.forall(hextets, lambda hextet: hextet.rlike(r"^[0-9A-Fa-f]{1,4}$"))
    )
    network = F.array_join(
        F.transform(F.slice(hextets, 1, 3), lambda hextet: F.regexp_replace(F.lower(hextet), r"^0+(?=.)", "")), ":")
    ipv6_network = F.concat(F.regexp_replace(network, r"(^|:)0(:0)*$", ""), F.lit("::"))

    return F.when(ipv4.rlike(IPV4_PATTERN), ipv4_network).when(is_ipv6, ipv6_network)


def truncate_json_ips(json_text: Column) -> Column:
    """JSON text with the string value of every ``IP_KEYS`` key (any depth) replaced by ``truncate_ip``.

    A value that is not an IP address becomes JSON ``null``; null text stays null.

    Example::

        truncate_json_ips(F.col("context"))   # {"ip":"203.0.113.77"} -> {"ip":"203.0.113.0"}
    """
    member = r'("' + _key_alternatives(IP_KEYS) + r'"\s*:\s*)'
    network = _OCTET + r"\." + _OCTET + r"\." + _OCTET
    # IPv4 values, the usual case, in one compiled regex replace; then the rest (IPv6, not an IP)
    # member by member. A truncated IPv4 address truncates to itself, so the second step skips it.
    # Both steps only change values, so one search for the keys serves both.
    has_key = _may_hold_keys(json_text, IP_KEYS)
    ipv4 = F.when(has_key, F.regexp_replace(json_text, member + '"(' + network + r")\." + _OCTET + '"', '$1"$2.0"')
                  ).otherwise(json_text)
    pattern = member + '"(?!' + network + r'\.0")([^"\\]*+)"'
    return _replace_matches(
        ipv4, pattern,
        lambda found: F.concat(
            F.regexp_extract(found, pattern, 1),
            F.coalesce(F.concat(F.lit('"'), truncate_ip(F.regexp_extract(found, pattern, 2)), F.lit('"')),
                       F.lit("null")),
        ),
        hint=has_key,
    )


def _has_strings(data_type: DataType) -> bool:
    if isinstance(data_type, StringType):
        return True
    if isinstance(data_type, StructType):
        return any(_has_strings(field.dataType) for field in data_type.fields)
    if isinstance(data_type, ArrayType):
        return _has_strings(data_type.elementType)
    if isinstance(data_type, MapType):
        return _has_strings(data_type.valueType)
    return False


def _hash_emails_everywhere(value: Column, data_type: DataType, salt: str) -> Column:
    """``value`` with ``hash_emails`` applied to every string in it, however deeply nested."""
    if isinstance(data_type, StringType):
        return hash_emails(value, salt)
    if isinstance(data_type, StructType):
        rebuilt = F.struct(*[
            (_hash_emails_everywhere(value.getField(field.name), field.dataType, salt)
             if _has_strings(field.dataType) else value.getField(field.name)).alias(field.name)
            for field in data_type.fields
        ])
        return F.when(value.isNull(), F.lit(None)).otherwise(rebuilt)
    if isinstance(data_type, ArrayType) and _has_strings(data_type.elementType):
        hashed = F.transform(value, lambda element: _hash_emails_everywhere(element, data_type.elementType, salt))
    elif isinstance(data_type, MapType) and _has_strings(data_type.valueType):
        hashed = F.transform_values(value, lambda _, item: _hash_emails_everywhere(item, data_type.valueType, salt))
    else:
        return value
    # The lambdas are interpreted, element by element: only collections that may hold an email pay.
    return F.when(_may_hold_email(value.cast("string")), hashed).otherwise(value)


def _column(name: str) -> Column:
    return F.col("`" + name.replace("`", "``") + "`")


def _string_columns(schema: StructType, candidates: Sequence[str]) -> list[str]:
    return [f.name for f in schema.fields if f.name in candidates and isinstance(f.dataType, StringType)]


def _hash_all_emails(schema: StructType, salt: str) -> dict[str, Column]:
    return {
        field.name: _hash_emails_everywhere(_column(field.name), field.dataType, salt)
        for field in schema.fields if _has_strings(field.dataType)
    }


def _hash_trait_identifiers(schema: StructType, salt: str) -> dict[str, Column]:
    context_keys = [key for key in DIRECT_IDENTIFIER_KEYS if key not in TRAITS_ONLY_KEYS]
    keys_by_column = {"traits": DIRECT_IDENTIFIER_KEYS, "context": context_keys}
    return {
        name: hash_json_fields(_column(name), keys_by_column[name], salt)
        for name in _string_columns(schema, tuple(keys_by_column))
    }


def _hash_context_traits(schema: StructType, salt: str) -> dict[str, Column]:
    # Its own step: each step reads the previous one's column instead of re-evaluating it.
    return {
        name: hash_json_fields(_column(name), DIRECT_IDENTIFIER_KEYS, salt, within="traits")
        for name in _string_columns(schema, ("context",))
    }


def _truncate_ips(schema: StructType, salt: str) -> dict[str, Column]:  # salt unused: a step like the others
    truncated = {name: truncate_json_ips(_column(name)) for name in _string_columns(schema, JSON_TEXT_COLUMNS)}
    truncated.update({name: truncate_ip(_column(name)) for name in _string_columns(schema, ("context_ip",))})
    return truncated


@functools.lru_cache(maxsize=16)
def _steps(schema_json: str, salt: str) -> tuple[dict[str, Column], ...]:
    """The column expressions of each pseudonymisation step for one input schema, built once.

    They are thousands of Column objects, each made by a call into the JVM: built per micro-batch
    they cost about 2 s of driver time (measured on a 2,000-event silver batch). Columns refer to
    input columns by name only, so one set serves every DataFrame of that schema. The steps keep
    every column's type, so each step's input has the same schema.
    """
    schema = StructType.fromJson(json.loads(schema_json))
    return tuple(step(schema, salt) for step in (_hash_all_emails, _hash_trait_identifiers, _hash_context_traits,
                                                 _truncate_ips))


def pseudonymise(events: DataFrame, salt: str) -> DataFrame:
    """Silver events with direct identifiers hashed and IP addresses truncated (same grain and columns).

    * every string, top-level or nested (``user_id``, ``anonymous_id``, ``properties``, ``traits``,
      ``context``, ``extra``, …): emails → ``hash_identifier`` (``hash_emails``);
    * ``traits``: values of ``DIRECT_IDENTIFIER_KEYS`` → hash; ``context``: the same inside
      ``context.traits``, and all but ``TRAITS_ONLY_KEYS`` elsewhere (``hash_json_fields``);
    * ``context_ip`` → ``truncate_ip``; ``IP_KEYS`` values in the JSON texts → ``truncate_json_ips``.

    Columns that are absent are skipped. Idempotent. Raises ``ValueError`` when ``salt`` is empty.

    Example::

        silver_events = parsed.transform(pseudonymise, settings.privacy.salt)
    """
    _require_salt(salt)
    for columns in _steps(events.schema.json(), salt):
        events = events.withColumns(columns)
    return events
