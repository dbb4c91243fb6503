"""The gateway's code layout: the role installs every file of the package, the request decision is the collection's
one evaluator, and the handlers reach SQLite only through named store methods."""

import re

import yaml
from gwtest import GATEWAY_FILES, ROOT, make_gateway
from oscar_gateway import _shared

PACKAGE = GATEWAY_FILES / "oscar_gateway"
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE)\b[^\n]*\b(FROM|INTO|SET|WHERE)\b")


def test_the_role_installs_every_file_of_the_package():
    role_vars = yaml.safe_load((ROOT / "roles" / "gateway" / "vars" / "main.yml").read_text())
    shipped = sorted(p.name for p in PACKAGE.iterdir() if p.suffix in (".py", ".md"))
    assert sorted(role_vars["__gateway_package_files"]) == shipped


def test_requests_are_decided_by_the_collections_evaluator(tmp_path):
    gateway = make_gateway(tmp_path)
    assert type(gateway.evaluator) is _shared.access_policy_module().Evaluator
    assert not (PACKAGE / "policy.py").exists()


def test_only_the_store_and_the_login_regulation_write_sql():
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name in ("store.py", "security.py"):
            continue
        assert not SQL.search(path.read_text()), "%s holds SQL; add a named method to store.py" % path.name
