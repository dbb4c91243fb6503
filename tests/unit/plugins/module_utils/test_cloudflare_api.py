"""The shared Cloudflare client (envelope, pagination, retries, timeouts, errors), the Vault writer, and the fake."""

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _cloudflare_vault as vault
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._cloudflare_api import (
    CloudflareAPIError,
    CloudflareClient,
    account_path,
)
from tests.fake_cloudflare.harness import running_fake
from tests.fake_cloudflare.openapi import SPEC_PATH, OpenAPIContract


@pytest.fixture
def fake():
    with running_fake(max_per_page=2) as server:
        yield server


def client_for(fake, **kwargs):
    sleeps = []
    kwargs.setdefault("sleep", sleeps.append)
    client = CloudflareClient(fake.token, fake.url, **kwargs)
    client.sleeps = sleeps
    return client


def policy(name):
    return {"name": name, "decision": "allow", "include": [{"email_domain": {"domain": "clinic.example"}}]}


# -- envelope and errors ------------------------------------------------------------------------------


def test_create_returns_the_result_and_sends_the_token(fake):
    client = client_for(fake)
    result = client.post(account_path(fake.account_id, "access", "policies"), policy("p"))
    assert result["name"] == "p" and result["id"]
    assert fake.calls("POST")[0].status == 201
    assert client.log == [("POST", "/accounts/%s/access/policies" % fake.account_id, 201)]


def test_errors_carry_cloudflare_codes_and_messages(fake):
    client = client_for(fake)
    path = account_path(fake.account_id, "cfd_tunnel")
    client.post(path, {"name": "t", "config_src": "cloudflare"})
    with pytest.raises(CloudflareAPIError) as info:
        client.post(path, {"name": "t", "config_src": "cloudflare"})
    error = info.value
    assert error.status == 409 and error.codes == [1013]
    assert "POST /accounts/%s/cfd_tunnel failed (HTTP 409): [1013] You already have a tunnel" % fake.account_id \
        in str(error)
    assert error.as_dict()["errors"][0]["code"] == 1013


def test_a_bad_token_is_an_authentication_error(fake):
    client = CloudflareClient("wrong", fake.url, sleep=lambda s: None)
    with pytest.raises(CloudflareAPIError) as info:
        client.get(account_path(fake.account_id, "access", "apps"))
    assert info.value.status == 403 and info.value.codes == [10000]


def test_not_a_cloudflare_answer():
    class Response:
        status = 200
        headers = {}

        def read(self):
            return b"<html>captive portal</html>"

    client = CloudflareClient("t", "https://api.invalid", opener=lambda *a, **k: Response(), sleep=lambda s: None)
    with pytest.raises(CloudflareAPIError, match="not a Cloudflare JSON envelope: <html>captive portal"):
        client.get("/zones")


def test_account_path_quotes_every_part():
    assert account_path("abc", "access", "apps", "a/b") == "/accounts/abc/access/apps/a%2Fb"


# -- pagination ---------------------------------------------------------------------------------------


def test_pagination_follows_result_info(fake):
    client = client_for(fake)
    path = account_path(fake.account_id, "access", "policies")
    for index in range(5):
        client.post(path, policy("p%d" % index))
    fake.reset_requests()
    items = client.list(path, per_page=50)
    assert [i["name"] for i in items] == ["p0", "p1", "p2", "p3", "p4"]
    assert [r.query["page"] for r in fake.calls("GET")] == ["1", "2", "3"]  # the fake caps pages at 2 items


def test_pagination_without_total_pages_uses_total_count():
    pages = {1: [1, 2], 2: [3, 4], 3: [5]}
    calls = []

    class Response:
        def __init__(self, page):
            self.status = 200
            self.headers = {}
            self.body = json.dumps({"success": True, "errors": [], "messages": [], "result": pages[page],
                                    "result_info": {"page": page, "per_page": 2, "count": len(pages[page]),
                                                    "total_count": 5}}).encode()

        def read(self):
            return self.body

    def opener(url, **kwargs):
        page = int(url.split("page=")[1].split("&")[0])
        calls.append(page)
        return Response(page)

    client = CloudflareClient("t", "https://api.invalid", opener=opener, sleep=lambda s: None)
    assert client.list("/x", per_page=2) == [1, 2, 3, 4, 5]
    assert calls == [1, 2, 3]


# -- retries -------------------------------------------------------------------------------------------


def test_429_is_retried_after_retry_after(fake):
    client = client_for(fake)
    fake.inject(429, method="GET", times=2, headers={"Retry-After": "3"})
    assert client.get(account_path(fake.account_id, "access", "organizations"))["auth_domain"]
    assert client.sleeps == [3.0, 3.0]
    assert [r.status for r in fake.calls("GET")] == [429, 429, 200]


def test_5xx_on_a_read_is_retried_with_backoff(fake):
    client = client_for(fake, backoff=0.5)
    fake.inject(503, method="GET", times=1)
    fake.inject(500, method="GET", times=1)
    client.get(account_path(fake.account_id, "access", "organizations"))
    assert len(client.sleeps) == 2
    assert 0.5 <= client.sleeps[0] <= 1.0 and 1.0 <= client.sleeps[1] <= 1.5


def test_a_post_is_not_retried_on_500_which_may_have_created_something(fake):
    client = client_for(fake)
    fake.inject(500, method="POST", times=1)
    with pytest.raises(CloudflareAPIError) as info:
        client.post(account_path(fake.account_id, "access", "policies"), policy("p"))
    assert info.value.status == 500
    assert len(fake.calls("POST")) == 1 and not fake.objects("policies")


def test_a_post_is_retried_on_503_and_429(fake):
    client = client_for(fake)
    fake.inject(503, method="POST", times=1)
    fake.inject(429, method="POST", times=1, headers={"Retry-After": "0"})
    client.post(account_path(fake.account_id, "access", "policies"), policy("p"))
    assert [r.status for r in fake.calls("POST")] == [503, 429, 201]
    assert len(fake.objects("policies")) == 1


def test_5xx_retries_give_up_after_max_retries(fake):
    client = client_for(fake, max_retries=2)
    fake.inject(503, times=10)
    with pytest.raises(CloudflareAPIError) as info:
        client.get(account_path(fake.account_id, "access", "apps"))
    assert info.value.status == 503
    assert len(fake.calls("GET")) == 3


def test_a_five_minute_rate_limit_block_is_waited_out(fake):
    """Cloudflare's global limit blocks a token for 300 s; the client sleeps as Retry-After says, past max_retries."""
    client = client_for(fake, max_retries=1)
    fake.inject(429, method="GET", times=1, headers={"Retry-After": "300"})
    fake.inject(429, method="GET", times=3, headers={"Retry-After": "5"})
    assert client.get(account_path(fake.account_id, "access", "organizations"))["auth_domain"]
    assert client.sleeps == [300.0, 5.0, 5.0, 5.0] == client.rate_limit_waits
    assert [r.status for r in fake.calls("GET")] == [429, 429, 429, 429, 200]


def test_a_rate_limit_longer_than_the_wait_budget_fails_with_a_clear_message(fake):
    client = client_for(fake)
    fake.inject(429, times=10, headers={"Retry-After": "300"})
    with pytest.raises(CloudflareAPIError) as info:
        client.get(account_path(fake.account_id, "access", "apps"))
    assert client.sleeps == [300.0]  # 300 s more would pass the default 330 s budget
    error = info.value
    assert error.status == 429 and error.codes == [971]
    message = str(error)
    assert "rate-limiting this API token (HTTP 429)" in message
    assert "1200 requests per 5 minutes" in message and "blocks the token for 5 minutes" in message
    assert "Waited 300 s in all; Retry-After now asks for 300 s more, beyond this module's rate-limit wait of 330 s" \
        in message


def test_a_rate_limit_wait_of_zero_fails_at_once(fake):
    client = client_for(fake, rate_limit_wait=0)
    fake.inject(429, times=1, headers={"Retry-After": "1"})
    with pytest.raises(CloudflareAPIError, match="Waited 0 s in all; Retry-After now asks for 1 s more"):
        client.get(account_path(fake.account_id, "access", "apps"))
    assert client.sleeps == []


def test_a_429_without_retry_after_backs_off_exponentially_within_the_budget(fake):
    client = client_for(fake, backoff=1.0, max_backoff=60, rate_limit_wait=20)
    fake.inject(429, times=10)
    with pytest.raises(CloudflareAPIError, match="Waited 15 s in all, beyond this module's rate-limit wait of 20 s"):
        client.get(account_path(fake.account_id, "access", "apps"))
    assert client.sleeps == [1.0, 2.0, 4.0, 8.0]


def test_retry_after_on_a_5xx_is_capped(fake):
    client = client_for(fake, max_backoff=5)
    fake.inject(503, times=1, headers={"Retry-After": "3600"})
    client.get(account_path(fake.account_id, "access", "apps"))
    assert client.sleeps == [5]


# -- timeouts and network errors ---------------------------------------------------------------------------


@pytest.fixture
def silent_server():
    """Accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    stop = threading.Event()

    def loop():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn = listener.accept()[0]
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_read_times_out_and_is_retried(silent_server):
    port, accepted = silent_server
    client = CloudflareClient("t", "http://127.0.0.1:%d/client/v4" % port, timeout=0.3, max_retries=1,
                              sleep=lambda s: None)
    with pytest.raises(CloudflareAPIError, match="no answer"):
        client.get("/zones")
    assert len(accepted) == 2
    assert client.log == [("GET", "/zones", None), ("GET", "/zones", None)]


def test_a_create_that_timed_out_is_not_sent_again(silent_server):
    port, accepted = silent_server
    client = CloudflareClient("t", "http://127.0.0.1:%d/client/v4" % port, timeout=0.3, max_retries=3,
                              sleep=lambda s: None)
    with pytest.raises(CloudflareAPIError, match="no answer"):
        client.post("/accounts/x/cfd_tunnel", {"name": "t"})
    assert len(accepted) == 1


def test_connection_refused_is_retried_even_for_a_create():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = []
    client = CloudflareClient("t", "http://127.0.0.1:%d" % port, timeout=1, max_retries=2, sleep=sleeps.append)
    with pytest.raises(CloudflareAPIError, match="no answer"):
        client.post("/x", {})
    assert len(sleeps) == 2


# -- Vault files --------------------------------------------------------------------------------------------


def test_vault_round_trip_and_wrong_password():
    text = vault.encrypt(b"secret: 1\n", "pw")
    assert text.startswith(b"$ANSIBLE_VAULT;1.1;AES256\n")
    assert vault.decrypt(text, "pw") == b"secret: 1\n"
    with pytest.raises(vault.VaultError, match="does not open"):
        vault.decrypt(text, "other")
    assert vault.encrypt(b"x", "pw", vault_id="clinic").startswith(b"$ANSIBLE_VAULT;1.2;AES256;clinic\n")


def test_vault_files_open_with_ansible_vault(tmp_path):
    password_file = tmp_path / "pw"
    password_file.write_text("correct horse\n")
    target = tmp_path / "secrets.vault.yml"
    assert vault.write_vault_vars(str(target), {"token": "abc"}, "correct horse", "test")
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    out = subprocess.run([str(Path(sys.executable).parent / "ansible-vault"), "view", "--vault-password-file",
                          str(password_file), str(target)], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.split("\n", 1)[1]) == {"token": "abc"}
    encrypted = tmp_path / "made-by-ansible-vault.yml"
    subprocess.run([str(Path(sys.executable).parent / "ansible-vault"), "encrypt", "--vault-password-file",
                    str(password_file), "--output", str(encrypted), "-"], input="hello\n", text=True, check=True)
    assert vault.decrypt(encrypted.read_bytes(), "correct horse") == b"hello\n"


def test_vault_write_is_idempotent_and_never_clobbers(tmp_path):
    target = tmp_path / "v.yml"
    assert vault.write_vault_vars(str(target), {"a": 1}, "pw", "c") is True
    first = target.read_bytes()
    assert vault.write_vault_vars(str(target), {"a": 1}, "pw", "c") is False
    assert target.read_bytes() == first
    assert vault.write_vault_vars(str(target), {"a": 2}, "pw", "c", check_mode=True) is True
    assert target.read_bytes() == first
    with pytest.raises(vault.VaultError, match="cannot be read with the given Vault password"):
        vault.write_vault_vars(str(target), {"a": 2}, "other", "c")
    assert target.read_bytes() == first


# -- the fake itself -------------------------------------------------------------------------------------------


def test_the_fake_checks_requests_against_the_openapi_document():
    contract, reason = OpenAPIContract.load()
    if contract is None:
        pytest.skip(reason)
    with running_fake() as server:
        assert server.openapi is not None and server.openapi.source == str(SPEC_PATH)
        client = CloudflareClient(server.token, server.url, sleep=lambda s: None)
        with pytest.raises(CloudflareAPIError) as info:
            client.post(account_path(server.account_id, "access", "policies"),
                        {"name": "x", "decision": "maybe", "include": []})
        assert info.value.status == 400
        assert any("OpenAPI" in v and "decision" in v for v in server.violations)
        server.violations.clear()


def test_the_fake_contract_checks_run_without_the_openapi_document(tmp_path):
    with running_fake(spec_path=tmp_path / "absent.json") as server:
        assert server.openapi is None and "not found" in server.openapi_skip_reason
        client = CloudflareClient(server.token, server.url, sleep=lambda s: None)
        with pytest.raises(CloudflareAPIError):
            client.post(account_path(server.account_id, "access", "policies"),
                        {"name": "x", "decision": "allow", "include": [{"email": {"email": "x"}}], "colour": "red"})
        assert any("contract" in v for v in server.violations)
        server.violations.clear()


def test_the_fake_hides_deleted_tunnels_unless_asked(fake):
    """As the real API since December 2025: is_deleted omitted lists live tunnels only."""
    client = client_for(fake)
    path = account_path(fake.account_id, "cfd_tunnel")
    first = client.post(path, {"name": "t", "config_src": "cloudflare"})
    client.delete(path + "/" + first["id"])
    second = client.post(path, {"name": "t", "config_src": "cloudflare"})
    assert [t["id"] for t in client.list(path, {"name": "t"})] == [second["id"]]
    assert [t["id"] for t in client.list(path, {"name": "t", "is_deleted": False})] == [second["id"]]
    assert [t["id"] for t in client.list(path, {"name": "t", "is_deleted": True})] == [first["id"]]


def test_the_fake_refuses_the_undocumented_cascade_query(fake):
    client = client_for(fake)
    path = account_path(fake.account_id, "cfd_tunnel")
    tunnel = client.post(path, {"name": "t", "config_src": "cloudflare"})
    with pytest.raises(CloudflareAPIError):
        client.delete(path + "/" + tunnel["id"], {"cascade": True})
    assert any("takes no query parameters; got cascade" in v for v in fake.violations)
    fake.violations.clear()


def test_the_fake_zones_have_a_plan_and_every_answer_passes_the_sdk_models(fake):
    if fake.sdk is None:
        pytest.skip(fake.sdk_skip_reason)
    client = client_for(fake)
    (zone,) = client.list("/zones", {"name": "demo-clinic.example"})
    assert zone["plan"]["legacy_id"] == "free"
    assert fake.sdk.validate("list_zones", [zone]) == []
    broken = dict(zone)
    del broken["plan"]
    assert any("plan: Field required" in line for line in fake.sdk.validate("list_zones", [broken]))


def test_an_answer_that_breaks_the_sdk_model_is_a_violation(fake):
    if fake.sdk is None:
        pytest.skip(fake.sdk_skip_reason)
    client = client_for(fake)
    fake.organization_settings["mfa_config"] = {"allowed_authenticators": ["carrier_pigeon"]}
    client.get(account_path(fake.account_id, "access", "organizations"))
    assert any("SDK model (fake's own response): Organization: mfa_config.allowed_authenticators.0" in v
               for v in fake.violations), fake.violations
    fake.violations.clear()


def test_the_fake_listens_on_loopback_only(fake):
    assert fake.server.server_address[0] == "127.0.0.1" and fake.port > 0
