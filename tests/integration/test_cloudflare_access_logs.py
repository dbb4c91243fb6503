"""cloudflare_access_logs, run through ansible-playbook against the fake Cloudflare API."""

import datetime

import pytest

from tests.fake_cloudflare.harness import run_module, run_tasks, running_fake

pytestmark = pytest.mark.integration

NOW = datetime.datetime.now(datetime.timezone.utc)


def _ago(minutes):
    return (NOW - datetime.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def fake():
    # Two records a page, so five records take three pages.
    with running_fake(max_per_page=2) as server:
        yield server


def test_every_page_oldest_first_since_a_time_and_read_only_in_check_mode(fake, tmp_path):
    fake.add_access_log("old@clinic.example", created_at=_ago(300), ray_id="00000000000000aa")
    added = [fake.add_access_log("dr.lee@clinic.example", created_at=_ago(50 - i), allowed=i != 2,
                                 ray_id="%016x" % (i + 1)) for i in range(5)]

    result = run_module(fake, tmp_path, "cloudflare_access_logs", {"since": "2h", "per_page": 2})
    assert result["changed"] is False and not result.get("failed")
    assert [r["ray_id"] for r in result["records"]] == [r["ray_id"] for r in added]
    assert result["count"] == 5 and result["newest"] == added[-1]["created_at"]
    assert result["records"][2] == {
        "ray_id": added[2]["ray_id"], "created_at": added[2]["created_at"], "user_email": "dr.lee@clinic.example",
        "ip_address": "198.51.100.7", "allowed": False, "action": "login", "app_domain": "oscar.demo-clinic.example",
        "app_uid": added[2]["app_uid"], "connection": "onetimepin"}
    gets = fake.calls("GET", "/access/logs/access_requests")
    assert [g.query["page"] for g in gets] == ["1", "2", "3"]
    assert all(g.query["direction"] == "asc" and g.query["since"].endswith("Z") for g in gets)
    assert result["_writes"] == 0

    checked = run_module(fake, tmp_path, "cloudflare_access_logs",
                         {"since": _ago(49)[:19] + "Z", "until": _ago(47.5)[:19] + "Z"}, check=True)
    assert checked["changed"] is False and checked["_writes"] == 0
    assert [r["ray_id"] for r in checked["records"]] == [added[1]["ray_id"], added[2]["ray_id"]]


def test_rate_limit_waited_out_duplicates_and_records_without_ray_id(fake, tmp_path):
    first = fake.add_access_log("a@clinic.example", created_at=_ago(10))
    fake.access_logs.append(dict(first))  # the same request twice in the answer
    fake.access_logs.append(dict(first, ray_id=None, created_at=_ago(9)))
    fake.inject(429, "GET", "/access/logs/", times=1, headers={"Retry-After": "0"})

    result = run_module(fake, tmp_path, "cloudflare_access_logs", {"since": "1h"})
    assert [r["ray_id"] for r in result["records"]] == [first["ray_id"]]
    assert result["without_ray_id"] == 1
    warnings = " ".join(result.get("warnings", []))
    assert "rate-limited this API token (HTTP 429) 1 time(s)" in warnings
    assert "1 Access log record(s) had no ray_id" in warnings
    assert len(fake.calls("GET", "/access/logs/")) == 3  # the refused request, then two pages of two


def test_bad_arguments_fail_before_any_request_and_an_api_error_names_the_call(fake, tmp_path):
    fake.inject(500, "GET", "/access/logs/", times=10)
    results = run_tasks(fake, tmp_path, [
        ("cloudflare_access_logs", {"since": "yesterday"}),
        ("cloudflare_access_logs", {"since": "2026-11-30T08:00:00"}),
        ("cloudflare_access_logs", {"since": "1h", "until": "2h"}),
        ("cloudflare_access_logs", {"since": "1h", "per_page": 0}),
        ("cloudflare_access_logs", {"since": "1h", "api_retries": 1}),
    ])
    assert "since must be an ISO 8601 time" in results[0]["msg"] and "'yesterday'" in results[0]["msg"]
    assert "must say its time zone" in results[1]["msg"]
    assert "is before since" in results[2]["msg"]
    assert "per_page must be 1 to 1000" in results[3]["msg"]
    assert all(r["failed"] for r in results)
    # Only the last call reached the API: the first try and its one retry.
    assert len(fake.calls("GET")) == 2
    assert "GET /accounts/%s/access/logs/access_requests" % fake.account_id in results[4]["msg"]
    assert "HTTP 500" in results[4]["msg"]
