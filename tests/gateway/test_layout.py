"""The gateway's code layout: the role installs every file of the package, the request decision is the collection's
one evaluator, the handlers reach SQLite only through named store methods, and what nginx and the gateway must agree
on is written once."""

import re

import jinja2
import yaml
from gwtest import GATEWAY_FILES, ROOT, make_gateway
from oscar_gateway import _shared, front_door

PACKAGE = GATEWAY_FILES / "oscar_gateway"
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE)\b[^\n]*\b(FROM|INTO|SET|WHERE)\b")


def test_the_role_installs_every_file_of_the_package():
    role_vars = yaml.safe_load((ROOT / "roles" / "gateway" / "vars" / "main.yml").read_text())
    shipped = sorted(p.name for p in PACKAGE.iterdir() if p.suffix in (".py", ".md"))
    assert sorted(role_vars["__gateway_package_files"]) == shipped


def test_requests_are_decided_by_the_collections_evaluator(tmp_path):
    gateway = make_gateway(tmp_path)
    assert gateway.evaluator.__class__ is _shared.access_policy_module().Evaluator  # that class, not a subclass
    assert not (PACKAGE / "policy.py").exists()


def test_only_the_store_writes_sql():
    """Every query is a named method of store.py, the login regulation's too (security.py decides, the store keeps)."""
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name == "store.py":
            continue
        assert not SQL.search(path.read_text()), "%s holds SQL; add a named method to store.py" % path.name


def role_defaults(role):
    return yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())


def nginx_gateway_settings(**inventory):
    """nginx's gateway settings as its defaults template them, given these inventory values (plain Jinja: the
    expressions use only its built-in filters)."""
    env = jinja2.Environment(undefined=jinja2.Undefined)
    defaults = role_defaults("nginx")
    values = dict(inventory)
    for name in ("nginx_gateway_upstream", "nginx_gateway_auth_upstream", "nginx_gateway_prefix",
                 "nginx_gateway_login_url", "nginx_gateway_cache_ttl"):
        values[name] = env.from_string(str(defaults[name])).render(values)
    return values


def test_nginx_follows_the_gateway_roles_variables():
    gateway = role_defaults("gateway")
    settings = nginx_gateway_settings()
    assert settings["nginx_gateway_upstream"] == "unix:" + gateway["gateway_socket"]
    assert settings["nginx_gateway_auth_upstream"] == "unix:" + gateway["gateway_auth_socket"]
    assert settings["nginx_gateway_prefix"] == gateway["gateway_ui_prefix"] + "/"
    assert settings["nginx_gateway_login_url"] == gateway["gateway_ui_prefix"] + "/login"
    assert int(settings["nginx_gateway_cache_ttl"]) == gateway["gateway_decision_cache_ttl"]
    moved = nginx_gateway_settings(gateway_socket="/run/gw/sock", gateway_auth_socket="/run/gw/auth",
                                   gateway_ui_prefix="/signin", gateway_decision_cache_ttl=5)
    assert (moved["nginx_gateway_upstream"], moved["nginx_gateway_auth_upstream"], moved["nginx_gateway_prefix"],
            moved["nginx_gateway_login_url"], moved["nginx_gateway_cache_ttl"]) == (
        "unix:/run/gw/sock", "unix:/run/gw/auth", "/signin/", "/signin/login", "5")


def gateway_public_host(**inventory):
    """gateway_public_host as the gateway role's default templates it, given these inventory values."""
    env = jinja2.Environment(undefined=jinja2.Undefined)
    return env.from_string(role_defaults("gateway")["gateway_public_host"]).render(inventory)


def test_the_gateways_host_name_follows_nginx_server_names():
    """One source for the name: nginx_server_names[0]; the two were once kept equal by hand in every inventory."""
    assert gateway_public_host(nginx_server_names=["emr.clinic.test", "oscar-lan"],
                               clinic_oscar_hostname="other.clinic.test") == "emr.clinic.test"
    # Without nginx_server_names in the inventory (nginx's default is not in the gateway's play): nginx's default.
    env = jinja2.Environment(undefined=jinja2.Undefined)
    nginx_default = role_defaults("nginx")["nginx_server_names"]
    for inventory in ({"clinic_oscar_hostname": "emr.clinic.test", "inventory_hostname": "oscar"},
                      {"inventory_hostname": "oscar"}):
        nginx_first = env.from_string(nginx_default[0]).render(inventory)
        assert gateway_public_host(**inventory) == nginx_first == inventory.get("clinic_oscar_hostname", "oscar")


def test_nginx_defaults_are_the_gateways_fixed_names():
    nginx = role_defaults("nginx")
    assert nginx["nginx_gateway_auth_path"] == front_door.AUTH_PATH
    assert nginx["nginx_gateway_session_cookie"] == front_door.SESSION_COOKIE
    assert nginx["nginx_gateway_identity_headers"] == list(front_door.IDENTITY_HEADERS)


def test_the_gateway_answers_with_those_names(tmp_path):
    from gwtest import Client, enroll_totp, login, set_password

    gateway = make_gateway(tmp_path)
    client = Client(gateway)
    set_password(gateway, "drsmith")
    login(client, gateway, "drsmith", enroll_totp(gateway, "drsmith"))
    assert front_door.SESSION_COOKIE in client.jar
    answer = client.auth("/oscar/")
    assert answer.status == 200
    assert [answer.header(name) for name in front_door.IDENTITY_HEADERS] == [
        "drsmith", "drsmith@clinic.test", "Dr. Ann Smith", "physician,staff"]
