"""cloudflare_tunnel, run through ansible-playbook against the fake Cloudflare API."""

import base64
import json

import pytest

from tests.fake_cloudflare.harness import run_module, run_tasks, running_fake

pytestmark = pytest.mark.integration

HOST = "emr.demo-clinic.example"
AUD = "a" * 64


@pytest.fixture
def fake():
    with running_fake() as server:
        yield server


def tunnel_args(**changes):
    args = {
        "name": "demo-clinic-oscar",
        "ingress": [{"hostname": HOST, "service": "https://127.0.0.1:443",
                     "origin_request": {"originServerName": HOST}}],
        "origin_request": {"connectTimeout": "30s",
                           "access": {"required": True, "teamName": "demo-clinic", "audTag": [AUD]}},
    }
    args.update(changes)
    return args


def live(fake):
    return [t for t in fake.objects("tunnels") if t["deleted_at"] is None]


def test_create_reread_update_check_and_delete(fake, tmp_path):
    created = run_module(fake, tmp_path, "cloudflare_tunnel", tunnel_args(), no_log=True)
    assert created["changed"] is True
    assert created["_calls"] == ["GET /accounts/%s/cfd_tunnel" % fake.account_id,
                                 "POST /accounts/%s/cfd_tunnel" % fake.account_id,
                                 "PUT /accounts/%s/cfd_tunnel/%s/configurations" % (fake.account_id,
                                                                                    created["tunnel_id"])]
    (tunnel,) = live(fake)
    assert created["tunnel_id"] == tunnel["id"] and created["cname"] == tunnel["id"] + ".cfargotunnel.com"
    token = json.loads(base64.b64decode(created["token"]))
    assert token == {"a": fake.account_id, "t": tunnel["id"], "s": tunnel["_secret"]}
    assert created["credentials"] == {"AccountTag": fake.account_id, "TunnelID": tunnel["id"],
                                      "TunnelName": "demo-clinic-oscar", "TunnelSecret": tunnel["_secret"]}
    assert len(base64.b64decode(tunnel["_secret"])) >= 32
    config = fake.store["tunnel_configs"][tunnel["id"]]["config"]
    assert config["ingress"][-1] == {"hostname": "*", "service": "http_status:404"}
    assert config["originRequest"] == {"connectTimeout": 30, "access": {"required": True, "teamName": "demo-clinic",
                                                                        "audTag": [AUD]}}

    again = run_module(fake, tmp_path, "cloudflare_tunnel", tunnel_args(), no_log=True)
    assert again["changed"] is False
    assert again["_writes"] == 0
    # one read each: the tunnel (listing), its configuration, its token
    assert again["_reads"] == 3 and again["api_requests"]["reads"] == 3
    assert again["token"] == created["token"]

    moved = tunnel_args(ingress=[{"hostname": HOST, "service": "https://192.0.2.10:443"}])
    checked = run_module(fake, tmp_path, "cloudflare_tunnel", dict(moved, return_secrets=False), check=True)
    assert checked["changed"] is True and checked["_writes"] == 0
    assert fake.store["tunnel_configs"][tunnel["id"]]["config"]["ingress"][0]["service"] == "https://127.0.0.1:443"
    assert checked["diff"]["before"]["config"]["ingress"][0]["service"] == "https://127.0.0.1:443"
    assert checked["diff"]["after"]["config"]["ingress"][0] == {"hostname": HOST, "service": "https://192.0.2.10:443"}

    updated = run_module(fake, tmp_path, "cloudflare_tunnel", dict(moved, return_secrets=False))
    assert updated["changed"] is True and updated["_writes"] == 1
    assert updated["diff"]["after"] == checked["diff"]["after"]
    assert fake.store["tunnel_configs"][tunnel["id"]]["version"] == 2
    assert "token" not in updated and not updated.get("warnings")

    check_delete = run_module(fake, tmp_path, "cloudflare_tunnel", {"name": "demo-clinic-oscar", "state": "absent"},
                              check=True)
    assert check_delete["changed"] is True and check_delete["_writes"] == 0 and live(fake)

    fake.store["tunnels"][tunnel["id"]]["connections"] = [{"id": "c1", "client_id": "connector-1"}]
    deleted = run_module(fake, tmp_path, "cloudflare_tunnel", {"name": "demo-clinic-oscar", "state": "absent"})
    assert deleted["changed"] is True and deleted["_writes"] == 2
    # the documented clean-up of its connections, then the delete; no undocumented cascade query
    assert [(c.method, c.path, c.query) for c in fake.calls("DELETE")] == [
        ("DELETE", "/accounts/%s/cfd_tunnel/%s/connections" % (fake.account_id, tunnel["id"]), {}),
        ("DELETE", "/accounts/%s/cfd_tunnel/%s" % (fake.account_id, tunnel["id"]), {})]
    assert not live(fake) and len(fake.objects("tunnels")) == 1  # kept by Cloudflare, with deleted_at

    gone = run_module(fake, tmp_path, "cloudflare_tunnel", {"name": "demo-clinic-oscar", "state": "absent"})
    assert gone["changed"] is False and gone["_writes"] == 0

    reborn = run_module(fake, tmp_path, "cloudflare_tunnel", tunnel_args(return_secrets=False))
    assert reborn["changed"] is True and reborn["tunnel_id"] != tunnel["id"]


def test_deleted_tunnels_are_ignored_even_when_the_api_lists_them():
    with running_fake(ignore_is_deleted_filter=True) as fake:
        from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_api import (
            CloudflareClient,
            account_path,
        )

        client = CloudflareClient(fake.token, fake.url, sleep=lambda s: None)
        old = client.post(account_path(fake.account_id, "cfd_tunnel"), {"name": "t1", "config_src": "cloudflare"})
        client.delete(account_path(fake.account_id, "cfd_tunnel", old["id"]))
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as folder:
            result = run_module(fake, Path(folder), "cloudflare_tunnel", {"name": "t1", "return_secrets": False})
        assert result["changed"] is True and result["tunnel_id"] != old["id"]


def test_a_tunnel_with_connections_is_kept_when_connections_may_not_be_removed(fake, tmp_path):
    created = run_module(fake, tmp_path, "cloudflare_tunnel", {"name": "t", "return_secrets": False})
    fake.store["tunnels"][created["tunnel_id"]]["connections"] = [{"id": "c1", "client_id": "connector-1"}]
    kept = run_module(fake, tmp_path, "cloudflare_tunnel", {"name": "t", "state": "absent", "cascade": False})
    assert kept["failed"] is True and "(HTTP 400): [1022]" in kept["msg"]
    assert [c.path for c in fake.calls("DELETE")] == ["/accounts/%s/cfd_tunnel/%s" % (fake.account_id,
                                                                                      created["tunnel_id"])]
    assert live(fake)


def test_the_tunnel_secret_is_compared_through_the_token_and_reset(fake, tmp_path):
    first = base64.b64encode(b"1" * 32).decode()
    second = base64.b64encode(b"2" * 40).decode()
    keep = {"name": "t", "tunnel_secret": first, "return_secrets": False}
    run_module(fake, tmp_path, "cloudflare_tunnel", keep)
    same = run_module(fake, tmp_path, "cloudflare_tunnel", keep)
    assert same["changed"] is False and same["_writes"] == 0
    assert same["diff"]["before"]["tunnel_secret"] == "********"
    assert first not in same["_stdout"] and first not in json.dumps(same["diff"])
    rotated = run_module(fake, tmp_path, "cloudflare_tunnel", {"name": "t", "tunnel_secret": second}, no_log=True)
    assert rotated["changed"] is True and [c.method for c in fake.calls() if c.method != "GET"] == ["PATCH"]
    assert json.loads(base64.b64decode(rotated["token"]))["s"] == second
    # Ansible masks a no_log argument's value wherever it appears in the result: the caller has it already.
    assert rotated["credentials"]["TunnelSecret"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert live(fake)[0]["_secret"] == second


def test_a_local_tunnel_returns_credentials_and_refuses_remote_ingress(fake, tmp_path):
    local, wrong = run_tasks(fake, tmp_path, [
        ("cloudflare_tunnel", {"name": "local-one", "config_src": "local"}),
        ("cloudflare_tunnel", {"name": "local-one", "config_src": "cloudflare"}),
    ], no_log=True)
    assert local["changed"] is True and local["credentials"]["TunnelID"] == local["tunnel_id"]
    assert live(fake)[0]["config_src"] == "local"
    assert wrong["failed"] and "exists with config_src=local" in wrong["msg"]


def test_secrets_are_returned_only_under_no_log(fake, tmp_path):
    result = run_module(fake, tmp_path, "cloudflare_tunnel", {"name": "t"})
    assert "token" not in result and "credentials" not in result
    assert any("no_log: true" in w for w in result["warnings"])
    assert [c.method for c in fake.calls()] == ["GET", "POST"]  # no token read for nothing


BAD_ARGUMENTS = [
    ({"name": "6ff42ae2-765d-4adf-8112-31c55c1551ef"}, "name must not be a UUID"),
    ({"name": "t", "tunnel_secret": base64.b64encode(b"short").decode()}, "at least 32 bytes"),
    ({"name": "t", "tunnel_secret": "not base64!"}, "tunnel_secret must be base64"),
    ({"name": "t", "ingress": [{"hostname": HOST, "service": "https://127.0.0.1:443/oscar"}]},
     "invalid argument: ingress[0].service: 'https://127.0.0.1:443/oscar' is not a cloudflared service"),
    ({"name": "t", "ingress": [{"service": "http_status:404"}, {"hostname": HOST, "service": "https://127.0.0.1"}]},
     "invalid argument: ingress[0]: '*' matches every request, so the rules after it could never match"),
    ({"name": "t", "ingress": [{"hostname": "https://" + HOST, "service": "https://127.0.0.1"}]},
     "invalid argument: ingress[0].hostname: 'https://%s' is a URL, not a hostname; give the bare name ('%s')"
     % (HOST, HOST)),
    ({"name": "t", "config_src": "local", "ingress": [{"hostname": HOST, "service": "https://127.0.0.1"}]},
     "they need config_src=cloudflare"),
    ({"name": "t", "origin_request": {"connectTimeOut": 30}},
     "invalid argument: origin_request.connectTimeOut: 30 is not a cloudflared originRequest setting"),
    ({"name": "t", "origin_request": {"connectTimeout": "soon"}},
     "invalid argument: origin_request.connectTimeout: 'soon' must be whole seconds or a duration"),
    ({"name": "t", "origin_request": {"access": {"teamName": "demo", "audTag": []}}},
     "invalid argument: origin_request.access.audTag: [] must list the Access applications' AUD tags"),
    ({"name": "t", "account_id": "not-an-account"}, "account_id must be the 32-character hexadecimal"),
    ({"name": "t", "api_base_url": "http://api.example.com/client/v4"}, "plain http:// only on a loopback address"),
]


def test_bad_arguments_fail_with_clear_messages_before_any_request(fake, tmp_path):
    results = run_tasks(fake, tmp_path, [("cloudflare_tunnel", case[0]) for case in BAD_ARGUMENTS])
    for (args, message), result in zip(BAD_ARGUMENTS, results):
        assert result["failed"] is True, args
        assert message in result["msg"], (args, result["msg"])
    assert fake.calls() == []


def test_a_seeded_tunnel_is_found_by_name_with_its_id_and_secret(fake, tmp_path):
    """add_tunnel (the fake's helper for a tunnel made elsewhere, such as the cloudflared scenario's): the module finds
    it by name, under the given id, and reads the token made of that id and secret."""
    tunnel_id, secret = "3c1e6b2a-5d4f-4e8a-9b7c-0123456789ab", base64.b64encode(b"s" * 32).decode()
    seeded = fake.add_tunnel("seeded", tunnel_id, secret)
    assert seeded["id"] == tunnel_id and "_secret" not in seeded
    found = run_module(fake, tmp_path, "cloudflare_tunnel", {"name": "seeded"}, no_log=True)
    assert found["changed"] is False and found["tunnel_id"] == tunnel_id and found["_writes"] == 0
    assert json.loads(base64.b64decode(found["token"])) == {"a": fake.account_id, "t": tunnel_id, "s": secret}


def test_with_create_false_a_missing_tunnel_fails_and_nothing_is_made(fake, tmp_path):
    """The lockdown rotates the clinic's existing tunnel: a misspelt name must fail, not make a second tunnel while
    the old token stays valid."""
    secret = base64.b64encode(b"n" * 32).decode()
    (missing,) = run_tasks(fake, tmp_path, [("cloudflare_tunnel", {"name": "no-such-tunnel", "create": False,
                                                                   "tunnel_secret": secret})])
    assert missing["failed"] is True and "no live tunnel is named 'no-such-tunnel'" in missing["msg"]
    assert live(fake) == [] and not [c for c in fake.calls() if c.method != "GET"]
    fake.add_tunnel("seeded", "3c1e6b2a-5d4f-4e8a-9b7c-0123456789ab", base64.b64encode(b"s" * 32).decode())
    rotated = run_module(fake, tmp_path, "cloudflare_tunnel", {"name": "seeded", "create": False,
                                                               "tunnel_secret": secret}, no_log=True)
    assert rotated["changed"] is True and len(live(fake)) == 1
