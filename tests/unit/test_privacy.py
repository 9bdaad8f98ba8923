import hashlib
import ipaddress
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F

from lakepulse.privacy import (
    DIRECT_IDENTIFIER_KEYS,
    SALT_MISSING,
    hash_emails,
    hash_identifier,
    hash_json_fields,
    pseudonymise,
    truncate_ip,
    truncate_json_ips,
)

SALT = "test-salt-not-a-secret"


def h(identifier: str) -> str:
    """The expected pseudonym, computed independently of Spark."""
    return "h:" + hashlib.sha256((SALT + identifier.strip().lower()).encode("utf-8")).hexdigest()


# --- an independent scanner for raw identifiers left in collected rows ---------------------------
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
IPV4_CANDIDATE = re.compile(r"(?<![0-9.])[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?![0-9.])")
IPV6_CANDIDATE = re.compile(r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Fa-f:])")


def strings_in(value: Any) -> list[str]:
    """Every string inside a collected value (rows, structs, arrays, maps)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Row):
        value = value.asDict()
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings_in(item)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in strings_in(item)]
    return []


def raw_identifiers(rows: list) -> set[str]:
    """Emails, and IP addresses that are not a truncated network (/24, /48), found in ``rows``."""
    found: set[str] = set()
    for text in strings_in(rows):
        found.update(EMAIL.findall(text))
        for candidate in IPV4_CANDIDATE.findall(text):
            try:
                if ipaddress.IPv4Address(candidate).packed[3] != 0:
                    found.add(candidate)
            except ValueError:
                pass
        for candidate in IPV6_CANDIDATE.findall(text):
            try:
                if any(ipaddress.IPv6Address(candidate).packed[6:]):
                    found.add(candidate)
            except ValueError:
                pass
    return found


# --- column helpers -------------------------------------------------------------------------------
def test_hash_identifier_and_hash_emails(spark):
    texts = spark.createDataFrame([
        ("Alice@Example.com ",),
        ("write to bob@shop.io or BOB@shop.io, cc xbob@shop.io.",),
        ("https://shop.example/signup?email=carol%40mail.example.org&step=2",),
        ("no identifiers here",),
        (None,),
    ], "text string")

    rows = texts.select(
        hash_identifier(F.col("text"), SALT).alias("identifier"), hash_emails(F.col("text"), SALT).alias("emails"),
    ).collect()

    assert [r.identifier for r in rows] == [
        h("alice@example.com"), h("write to bob@shop.io or bob@shop.io, cc xbob@shop.io."),
        h("https://shop.example/signup?email=carol%40mail.example.org&step=2"), h("no identifiers here"), None,
    ]
    assert h("alice@example.com") == "h:" + hashlib.sha256(b"test-salt-not-a-secretalice@example.com").hexdigest()
    assert [r.emails for r in rows] == [
        h("alice@example.com") + " ",
        f"write to {h('bob@shop.io')} or {h('bob@shop.io')}, cc {h('xbob@shop.io')}.",
        f"https://shop.example/signup?email={h('carol@mail.example.org')}&step=2",
        "no identifiers here",
        None,
    ]


def test_hash_json_fields_hashes_identifier_values_and_keeps_the_rest(spark):
    already = h("lee")
    traits = ('{"name": "Ann Lee", "firstName":"Ann", "Phone": 5551234, "plan":"pro", "age": 41, '
              '"address":{"street":"1 Main St","city":"Lyon"}, "company":{"name":"Acme"}, '
              f'"last_name":"{already}", "username": "", "nickname":"name"}}')
    context = ('{"campaign":{"name":"spring_sale","source":"news"},"library":{"name":"analytics.js"},'
               '"traits":{"prefs":{"a":{"b":1}},"name":"Ann Lee","plan":"pro"}}')
    texts = spark.createDataFrame([(traits, context), (None, None)], "traits string, context string")

    rows = texts.select(
        hash_json_fields(F.col("traits"), DIRECT_IDENTIFIER_KEYS, SALT).alias("traits"),
        hash_json_fields(F.col("context"), DIRECT_IDENTIFIER_KEYS, SALT, within="traits").alias("context"),
    ).collect()

    assert rows[0].traits == (
        f'{{"name": "{h("Ann Lee")}", "firstName":"{h("Ann")}", "Phone": "{h("5551234")}", "plan":"pro", '
        f'"age": 41, "address":{{"street":"{h("1 Main St")}","city":"Lyon"}}, "company":{{"name":"{h("Acme")}"}}, '
        f'"last_name":"{already}", "username": "", "nickname":"name"}}'
    )
    assert json.loads(rows[0].context) == {
        "campaign": {"name": "spring_sale", "source": "news"},
        "library": {"name": "analytics.js"},
        "traits": {"prefs": {"a": {"b": 1}}, "name": h("Ann Lee"), "plan": "pro"},
    }
    assert rows[1] == Row(traits=None, context=None)
    with pytest.raises(ValueError, match="JSON keys"):
        hash_json_fields(F.col("traits"), ["first name"], SALT)


IP_CASES = [
    ("203.0.113.77", "203.0.113.0"),
    (" 198.51.100.7 ", "198.51.100.0"),
    ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"),
    ("2001:0DB8:0000:0000::1", "2001:db8::"),
    ("2001:db8:85a3::", "2001:db8:85a3::"),
    ("::2:3:4:5:6:7:8", "0:2:3::"),
    ("fe80::1", "fe80::"),
    ("::1", "::"),
    ("::ffff:203.0.113.77", "203.0.113.0"),
    ("256.1.1.1", None),
    ("01.2.3.4", None),
    ("1.2.3", None),
    ("1::2::3", None),
    ("1:2:3:4:5:6:7:8::", None),
    ("1:2:3:4:5:6:7", None),
    ("2001:db8::g1", None),
    ("fe80::1%eth0", None),
    ("203.0.113.77, 10.0.0.1", None),
    ("unknown", None),
    ("", None),
    (None, None),
]


def test_truncate_ip_keeps_the_network_only(spark):
    ips = spark.createDataFrame([(i, ip) for i, (ip, _) in enumerate(IP_CASES)], "i int, ip string")
    context = ('{"ip":"203.0.113.77","device":{"ipAddress":"2001:db8:85a3:8d3:1319:8a2e:370:7348"},'
               '"IP": "garbage","library":{"version":"1.2.3.4"}}')

    rows = ips.select("i", truncate_ip(F.col("ip")).alias("network"),
                      truncate_json_ips(F.when(F.col("i") == 0, F.lit(context))).alias("context")).collect()

    assert [r.network for r in sorted(rows)] == [network for _, network in IP_CASES]
    assert sorted(rows)[0].context == ('{"ip":"203.0.113.0","device":{"ipAddress":"2001:db8:85a3::"},'
                                       '"IP": null,"library":{"version":"1.2.3.4"}}')


def _ip_text(value: str) -> str:
    return '{"a":1,"ip":' + value + ',"x":{"clientIp":' + value + "}}"


def test_truncate_json_ips_treats_every_value_as_truncate_ip_does(spark):
    # IPv4 values take a fast path; the others go member by member: both must agree with truncate_ip.
    cases = [(ip, network) for ip, network in IP_CASES if ip is not None] + [("10.20.30.0", "10.20.30.0")]
    texts = spark.createDataFrame([(i, _ip_text(f'"{ip}"')) for i, (ip, _) in enumerate(cases)], "i int, text string")
    once = texts.select("i", truncate_json_ips(F.col("text")).alias("text"))
    rows = once.select("i", "text", truncate_json_ips(F.col("text")).alias("twice")).collect()

    expected = [_ip_text("null" if network is None else f'"{network}"') for _, network in cases]
    assert [r.text for r in sorted(rows)] == expected
    assert all(r.twice == r.text for r in rows)


def test_json_keys_are_found_in_any_case_and_texts_without_them_are_left_alone(spark):
    # Texts are searched for the keys before the regexes run: upper-case keys must still be found.
    texts = spark.createDataFrame([
        ('{"IP_ADDRESS":"203.0.113.77","x":{"ClientIP":"198.51.100.9"}}', '{"TRAITS":{"LastName":"Lee"}}'),
        ('{"tip":"203.0.113.77","zip":"75001"}', '{"traits_count":2,"library":{"name":"Lee"}}'),
    ], "ips string, context string")

    rows = texts.select(
        truncate_json_ips(F.col("ips")).alias("ips"),
        hash_json_fields(F.col("context"), DIRECT_IDENTIFIER_KEYS, SALT, within="traits").alias("context"),
    ).collect()

    assert rows[0] == Row(ips='{"IP_ADDRESS":"203.0.113.0","x":{"ClientIP":"198.51.100.0"}}',
                          context=f'{{"TRAITS":{{"LastName":"{h("Lee")}"}}}}')
    # "tip" and "zip" are not IP keys, "traits_count" holds no object and "library" is not traits.
    assert rows[1] == Row(ips='{"tip":"203.0.113.77","zip":"75001"}',
                          context='{"traits_count":2,"library":{"name":"Lee"}}')


# --- the silver transform -------------------------------------------------------------------------
SILVER_SCHEMA = (
    "message_id string, type string, event string, anonymous_id string, user_id string, previous_id string, "
    "event_time timestamp, context_ip string, context_user_agent string, properties string, traits string, "
    "context string, extra string, page struct<url:string,title:string>, tags array<string>, revenue double"
)
ANN = "Ann.Lee@Example.com"
PROPERTIES = ('{"order_id":"o-1","revenue":30.5,"products":[{"product_id":"p-1","name":"Blue Mug",'
              '"price":30.5,"quantity":1}]}')
SILVER_ROWS = [
    ("m-1", "identify", None, "anon-1", ANN, None, datetime(2026, 3, 1, 10, tzinfo=UTC),
     "203.0.113.77", "Mozilla/5.0", None,
     '{"email":"Ann.Lee@Example.com","firstName":"Ann","last_name":"Lee","phone":"+33 6 12 34 56 78",'
     '"address":{"street":"1 Main St","city":"Lyon"},"plan":"pro"}',
     '{"ip":"203.0.113.77","userAgent":"Mozilla/5.0","campaign":{"name":"spring_sale"},'
     '"traits":{"name":"Ann Lee"},"page":{"url":"https://shop.example/?e=ann.lee%40example.com"}}',
     '{"note":"reply to ann.lee@example.com"}',
     ("https://shop.example/account?email=ann.lee@example.com", "Account"), ["vip", "ann.lee@example.com"], None),
    ("m-2", "track", "Order Completed", "anon-2", "u-42", None, datetime(2026, 3, 1, 11, tzinfo=UTC),
     "2001:db8:85a3:8d3:1319:8a2e:370:7348", "Mozilla/5.0", PROPERTIES, None,
     '{"ip":"2001:db8:85a3:8d3:1319:8a2e:370:7348","library":{"name":"analytics.js","version":"4.1.0"}}',
     None, None, None, 30.5),
    ("m-3", "alias", None, None, "u-42", "Old.Email@Example.org", datetime(2026, 3, 1, 12, tzinfo=UTC),
     "::ffff:198.51.100.23", None, None, None, None, None, ("https://shop.example/", None), [], None),
]


def test_pseudonymise_leaves_no_raw_identifier_in_any_string(spark):
    silver = spark.createDataFrame(SILVER_ROWS, SILVER_SCHEMA)
    assert raw_identifiers(SILVER_ROWS) == {  # the scanner finds what there is to find
        ANN, "ann.lee@example.com", "ann.lee%40example.com", "Old.Email@Example.org", "203.0.113.77",
        "2001:db8:85a3:8d3:1319:8a2e:370:7348", "::ffff:198", "198.51.100.23",
    }

    pseudonymised = pseudonymise(silver, SALT)
    rows = pseudonymised.collect()

    assert [(f.name, f.dataType.simpleString()) for f in pseudonymised.schema] == \
           [(f.name, f.dataType.simpleString()) for f in silver.schema]
    assert raw_identifiers(rows) == set()
    everything = "\n".join(strings_in(rows))
    for personal in ("Ann", "Lee", "Main St", "12 34 56 78", "Old.Email"):
        assert personal not in everything

    ann, order, alias = sorted(rows, key=lambda r: r.message_id)
    assert (ann.anonymous_id, ann.user_id, ann.context_ip) == ("anon-1", h(ANN), "203.0.113.0")
    assert json.loads(ann.traits) == {
        "email": h(ANN), "firstName": h("Ann"), "last_name": h("Lee"), "phone": h("+33 6 12 34 56 78"),
        "address": {"street": h("1 Main St"), "city": "Lyon"}, "plan": "pro",
    }
    assert json.loads(ann.context) == {
        "ip": "203.0.113.0", "userAgent": "Mozilla/5.0", "campaign": {"name": "spring_sale"},
        "traits": {"name": h("Ann Lee")}, "page": {"url": "https://shop.example/?e=" + h(ANN)},
    }
    assert json.loads(ann.extra) == {"note": "reply to " + h(ANN)}
    assert ann.page == Row(url="https://shop.example/account?email=" + h(ANN), title="Account")
    assert ann.tags == ["vip", h(ANN)]

    assert order.properties == PROPERTIES  # product names are not personal
    assert (order.user_id, order.context_ip, order.event, order.revenue) == \
           ("u-42", "2001:db8:85a3::", "Order Completed", 30.5)
    assert json.loads(order.context) == {
        "ip": "2001:db8:85a3::", "library": {"name": "analytics.js", "version": "4.1.0"},
    }
    assert order.event_time == datetime(2026, 3, 1, 11, tzinfo=UTC).astimezone().replace(tzinfo=None)
    assert (order.page, order.tags, order.traits) == (None, None, None)

    assert (alias.previous_id, alias.context_ip, alias.tags) == (h("old.email@example.org"), "198.51.100.0", [])

    # Idempotent: silver rebuilt from already pseudonymised rows does not hash twice.
    assert pseudonymise(pseudonymised, SALT).collect() == rows


def test_an_empty_salt_is_refused_with_the_setting_to_fix(spark):
    silver = spark.createDataFrame(SILVER_ROWS[:1], SILVER_SCHEMA)
    for salt in ("", "  "):
        with pytest.raises(ValueError, match=re.escape(SALT_MISSING)):
            pseudonymise(silver, salt)
    with pytest.raises(ValueError, match="LAKEPULSE_PRIVACY__SALT"):
        hash_identifier(F.col("user_id"), "")
    with pytest.raises(ValueError, match="LAKEPULSE_PRIVACY__SALT"):
        hash_emails(F.col("user_id"), "")
