"""cloudflare_access_prune, run through ansible-playbook against the fake Cloudflare API."""

import pytest

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_api import (
    CloudflareClient,
    account_path,
)
from tests.fake_cloudflare.harness import run_module, run_tasks, running_fake

pytestmark = pytest.mark.integration

PREFIX = "demo-clinic: "
APP = "OSCAR EMR - Demo"


@pytest.fixture
def fake():
    with running_fake() as server:
        yield server


def seed(fake):
    """Objects of the clinic (kept and removed from its inventory) and of another clinic in the same account."""
    client = CloudflareClient(fake.token, fake.url, sleep=lambda s: None)

    def post(kind, body):
        return client.post(account_path(fake.account_id, "access", kind), body)

    ids = {}
    ids["otp"] = post("identity_providers", {"name": PREFIX + "email PIN", "type": "onetimepin", "config": {}})["id"]
    ids["old_otp"] = post("identity_providers", {"name": PREFIX + "old PIN", "type": "onetimepin", "config": {}})["id"]
    ids["other_otp"] = post("identity_providers", {"name": "Email one-time PIN", "type": "onetimepin",
                                                   "config": {}})["id"]
    for name in (PREFIX + "physicians", PREFIX + "locums", "lakeside: locums"):
        ids[name] = post("groups", {"name": name, "include": [{"email": {"email": "a@clinic.example"}}]})["id"]
    for name in (PREFIX + "lab", PREFIX + "old-fax", "lakeside: old-fax"):
        ids[name] = post("service_tokens", {"name": name})["id"]
    for name in (PREFIX + "clinicians", PREFIX + "locums", "lakeside: locums"):
        ids[name] = post("policies", {"name": name, "decision": "allow",
                                      "include": [{"email_domain": {"domain": "clinic.example"}}]})["id"]
    post("apps", {"type": "self_hosted", "name": APP, "domain": "emr.demo-clinic.example",
                  "policies": [{"id": ids[PREFIX + "clinicians"], "precedence": 1}]})
    post("apps", {"type": "self_hosted", "name": APP + " (/oscar/old)", "domain": "emr.demo-clinic.example/oscar/old",
                  "policies": [{"id": ids[PREFIX + "locums"], "precedence": 1}]})
    post("apps", {"type": "self_hosted", "name": "Lakeside OSCAR (/oscar/ws)", "domain": "emr.lakeside.example/x",
                  "policies": [{"id": ids["lakeside: locums"], "precedence": 1}]})
    return ids


ARGS = {"name_prefix": PREFIX, "application_name": APP, "keep": {
    "applications": [APP], "policies": [PREFIX + "clinicians"], "groups": [PREFIX + "physicians"],
    "identity_providers": [PREFIX + "email PIN"], "service_tokens": [PREFIX + "lab"]}}
GONE = [("application", APP + " (/oscar/old)"), ("policy", PREFIX + "locums"), ("group", PREFIX + "locums"),
        ("service_token", PREFIX + "old-fax"), ("identity_provider", PREFIX + "old PIN")]


STORE = {"application": "apps", "policy": "policies", "group": "groups", "service_token": "service_tokens",
         "identity_provider": "idps"}


def names(fake):
    return sorted((kind, o["name"]) for kind, store in STORE.items() for o in fake.objects(store))


def test_without_consent_orphans_are_reported_and_kept(fake, tmp_path):
    seed(fake)
    everything = names(fake)
    result = run_module(fake, tmp_path, "cloudflare_access_prune", ARGS)
    assert result["changed"] is False and result["_writes"] == 0 and names(fake) == everything
    assert [(o["kind"], o["name"]) for o in result["orphans"]] == GONE and result["deleted"] == []
    assert any("5 Cloudflare object(s) of this clinic are no longer in its inventory" in w
               for w in result["warnings"])


def test_check_mode_shows_exactly_what_would_go_then_it_goes_and_others_survive(fake, tmp_path):
    seed(fake)
    everything = names(fake)
    consent = dict(ARGS, delete=True)
    checked = run_module(fake, tmp_path, "cloudflare_access_prune", consent, check=True)
    assert checked["changed"] is True and checked["_writes"] == 0 and names(fake) == everything
    assert [(o["kind"], o["name"]) for o in checked["deleted"]] == GONE
    assert checked["diff"]["before"] == {
        "applications": [APP + " (/oscar/old)"], "policies": [PREFIX + "locums"], "groups": [PREFIX + "locums"],
        "service_tokens": [PREFIX + "old-fax"], "identity_providers": [PREFIX + "old PIN"]}
    assert checked["diff"]["after"] == {}

    pruned = run_module(fake, tmp_path, "cloudflare_access_prune", consent)
    assert pruned["changed"] is True and pruned["_writes"] == 5
    assert [c.method for c in fake.calls() if c.method != "GET"] == ["DELETE"] * 5
    assert names(fake) == sorted(set(everything) - set(GONE))
    # another clinic's objects (outside the prefix), even with the same suffixes, survive
    for survivor in [("group", "lakeside: locums"), ("policy", "lakeside: locums"),
                     ("service_token", "lakeside: old-fax"), ("identity_provider", "Email one-time PIN"),
                     ("application", "Lakeside OSCAR (/oscar/ws)")]:
        assert survivor in names(fake)

    again = run_module(fake, tmp_path, "cloudflare_access_prune", consent)
    assert again["changed"] is False and again["_writes"] == 0 and again["orphans"] == []


def test_bad_arguments(fake, tmp_path):
    cases = [
        ({"name_prefix": ""}, "name_prefix '' is too short"),
        ({"name_prefix": "ab"}, "name_prefix 'ab' is too short"),
        ({"name_prefix": PREFIX, "keep": {"policy": ["x"]}}, "Unsupported parameters"),
        ({"name_prefix": PREFIX, "delete": "perhaps"}, "is not a valid boolean"),
    ]
    results = run_tasks(fake, tmp_path, [("cloudflare_access_prune", c[0]) for c in cases])
    for (args, message), result in zip(cases, results):
        assert result["failed"] is True and message in result["msg"], (args, result.get("msg"))
    assert fake.calls() == []
