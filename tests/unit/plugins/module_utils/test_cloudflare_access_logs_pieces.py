"""The Access-log pull's pieces: times, one record's shape, de-duplication, oldest first."""

import datetime

import pytest

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_access_logs import (
    AccessLogError,
    normalise,
    parse_time,
    pull,
    query,
)

NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.timezone.utc)


def test_times_iso_with_a_zone_or_a_span_back_from_now():
    assert parse_time("90m", NOW) == NOW - datetime.timedelta(minutes=90)
    assert parse_time("7d", NOW) == NOW - datetime.timedelta(days=7)
    assert parse_time("2026-11-30T08:00:00Z", NOW) == datetime.datetime(2026, 11, 30, 8, tzinfo=datetime.timezone.utc)
    assert parse_time("2026-11-30T03:00:00-05:00", NOW).hour == 8
    with pytest.raises(AccessLogError, match="time zone"):
        parse_time("2026-11-30T08:00:00", NOW)
    with pytest.raises(AccessLogError, match="until must be"):
        parse_time("last week", NOW, what="until")
    assert query(NOW, NOW) == {"since": "2026-11-30T12:00:00Z", "until": "2026-11-30T12:00:00Z", "direction": "asc"}


def test_a_record_keeps_the_contract_fields_only_and_needs_a_ray_id():
    raw = {"ray_id": " 8a1b ", "allowed": 0, "user_email": "a@b.example", "extra": "dropped"}
    assert normalise(raw) == {"ray_id": "8a1b", "created_at": None, "user_email": "a@b.example",
                              "ip_address": None, "allowed": False, "action": None, "app_domain": None,
                              "app_uid": None, "connection": None}
    assert normalise({"ray_id": ""}) is None and normalise({"user_email": "x"}) is None and normalise("x") is None


class _Client:
    def __init__(self, items):
        self.items = items
        self.asked = []

    def list(self, path, params, per_page):
        self.asked.append((path, params, per_page))
        return self.items


def test_pull_keeps_one_record_per_ray_id_oldest_first_and_counts_unkeyed_ones():
    client = _Client([
        {"ray_id": "b", "created_at": "2026-11-30T08:00:02Z"},
        {"ray_id": "a", "created_at": "2026-11-30T08:00:01Z"},
        {"ray_id": "b", "created_at": "2026-11-30T08:00:02Z"},
        {"created_at": "2026-11-30T08:00:03Z"},
    ])
    records, unkeyed = pull(client, "/p", NOW, per_page=7)
    assert [r["ray_id"] for r in records] == ["a", "b"] and unkeyed == 1
    assert client.asked == [("/p", {"since": "2026-11-30T12:00:00Z", "direction": "asc"}, 7)]
