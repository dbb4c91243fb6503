"""Every boolean a role takes means what it says however it is spelt (issue 20).

``nginx_gateway_bypass_machine_paths: 'no'`` once switched the bypass on: Ansible's role argument check accepts
``'no'``, ``'false'``, ``'off'``, ``'0'`` (and ``-e name=false`` always arrives as a string), but a template's
``{% if name %}`` reads any non-empty string as true. The rule: every Jinja expression of the collection that reads a
boolean variable of a role (the list comes from the roles' ``meta/argument_specs.yml``, so it cannot drift) reads it
through the ``bool`` filter, or hands it to an action whose own argument spec converts it. What is not a boolean at
all (``'nope'``, ``2``) is refused by Ansible's role argument check, and what that check accepts but the filter reads
as false (``'y'``, ``'t'``) by the role's own check (plugins/plugin_utils/_role_validate.py, ``boolean_problems``),
both naming the variable and the value (tests/integration/test_inventory_mistakes.py runs them). Booleans inside
structured variables are refused unless true or false by each role's check, naming the path (same corpus).
"""

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SPELLINGS = {"no": False, "false": False, "off": False, "0": False, "False": False, "NO": False, "Off": False,
             "yes": True, "true": True, "on": True, "1": True, "True": True, "YES": True, "On": True}
EXPRESSION_KEYS = ("when", "that", "changed_when", "failed_when", "until")
JINJA = re.compile(r"\{\{(.*?)\}\}|\{%(.*?)%\}", re.S)


def _bool_options(options, path=()):
    for name, spec in (options or {}).items():
        spec = spec or {}
        if spec.get("type") == "bool":
            yield (*path, name)
        yield from _bool_options(spec.get("options"), (*path, name))


def role_booleans():
    """(role, path) for every boolean option of every role; path is (variable,) or (variable, field, ...)."""
    found = set()
    for spec_file in sorted(ROOT.glob("roles/*/meta/argument_specs.yml")):
        role = spec_file.parts[-3]
        for entry_point in (yaml.safe_load(spec_file.read_text())["argument_specs"] or {}).values():
            found.update((role, path) for path in _bool_options((entry_point or {}).get("options")))
    return sorted(found)


BOOLEANS = role_booleans()
TOP_LEVEL = sorted((role, path[0]) for role, path in BOOLEANS if len(path) == 1)
NESTED = sorted((role, path) for role, path in BOOLEANS if len(path) > 1)


def _action_bool_args(module):
    """Arguments of one of our <role>_validate actions that its argument spec declares bool (it converts them)."""
    if not module.startswith("oscar_emr.remote_access.") or not module.endswith("_validate"):
        return set()
    plugin = importlib.import_module("ansible_collections.oscar_emr.remote_access.plugins.action."
                                     + module.rsplit(".", 1)[-1])
    spec = getattr(plugin.ActionModule, "ARGUMENT_SPEC", None) or {}
    return {name for name, arg in spec.items() if arg.get("type") == "bool"}


def _yaml_expressions(node, exempt=frozenset()):
    """Jinja expressions in a task file: bare ones under when/that/... and every {{ }} / {% %} elsewhere."""
    if isinstance(node, list):
        for item in node:
            yield from _yaml_expressions(item, exempt)
    elif isinstance(node, dict):
        converted = set()
        for key, value in node.items():
            if isinstance(value, dict):
                converted |= {(key, arg) for arg in _action_bool_args(str(key))}
        for key, value in node.items():
            if key in EXPRESSION_KEYS:
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, str):
                        yield item
            elif isinstance(value, dict) and any(pair[0] == key for pair in converted):
                args = {arg for k, arg in converted if k == key}
                yield from _yaml_expressions({a: v for a, v in value.items() if a not in args}, exempt)
            else:
                yield from _yaml_expressions(value, exempt)
    elif isinstance(node, str):
        for match in JINJA.finditer(node):
            yield match.group(1) or match.group(2)


def _expressions():
    """(file, expression) for every Jinja expression in the roles' tasks, handlers, vars, templates and playbooks."""
    files = [p for p in ROOT.glob("roles/*/*/*") if p.parts[-2] in ("tasks", "handlers", "vars", "templates")]
    files += list(ROOT.glob("playbooks/*.yml"))
    for path in sorted(files):
        text = path.read_text()
        if path.suffix == ".yml":
            for expression in _yaml_expressions(yaml.safe_load(text)):
                yield path.relative_to(ROOT), expression
        else:
            for match in JINJA.finditer(text):
                yield path.relative_to(ROOT), match.group(1) or match.group(2)


EXPRESSIONS = list(_expressions())


def _unfiltered(name, expression, field=False):
    """Places in ``expression`` that read ``name`` without the bool filter (an optional default() first)."""
    pattern = (r"(?:\.%s\b|\[['\"]%s['\"]\])" % (name, name)) if field else r"(?<![\w.])%s\b" % name
    out = []
    for match in re.finditer(pattern, expression):
        rest = expression[match.end():]
        if not re.match(r"\s*(?:\|\s*default\([^)]*\)\s*)?\|\s*bool\b", rest):
            out.append(expression.strip())
    return out


def test_the_corpus_of_booleans_is_read_from_the_argument_specs():
    roles = {pair[0] for pair in TOP_LEVEL}
    assert {"nginx", "firewall", "gateway", "patch", "wireguard"} <= roles
    assert ("nginx", "nginx_gateway_bypass_machine_paths") in TOP_LEVEL
    assert len(EXPRESSIONS) > 200


@pytest.mark.parametrize("role,name", TOP_LEVEL)
def test_every_read_of_a_boolean_variable_goes_through_the_bool_filter(role, name):
    bad = ["%s: {{ %s }}" % (path, expr) for path, expr in EXPRESSIONS for expr in _unfiltered(name, expr)]
    assert not bad, "%s is read without '| bool' (a quoted 'no' would count as true):\n%s" % (name, "\n".join(bad))


@pytest.mark.parametrize("role,path", NESTED)
def test_every_read_of_a_boolean_field_in_the_role_goes_through_the_bool_filter(role, path):
    # Reads of the raw inventory: the loop item over the variable, or the variable itself (not a model the role's
    # check built from it, whose booleans are real ones).
    parent, field = path[0], path[-1]
    bad = ["%s: {{ %s }}" % (p, expr) for p, expr in EXPRESSIONS
           if p.parts[1] == role and (parent in expr or re.search(r"\bitem\.%s\b" % field, expr))
           for expr in _unfiltered(field, expr, field=True)]
    assert not bad, "%s is read without '| bool':\n%s" % (".".join(path), "\n".join(bad))


RENDER = r"""
import json, sys
import yaml
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
_AnsibleCollectionFinder(paths=[sys.argv[1] + "/.build/collections"])._install()
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
root = sys.argv[1]
base = yaml.safe_load(open(root + "/roles/nginx/defaults/main.yml"))
base.update(yaml.safe_load(open(root + "/roles/nginx/vars/main.yml")) or {})
base.update(nginx_server_names=["emr.clinic.test"], inventory_hostname="front", ansible_managed="managed",
            nginx_gateway_enabled=True)
base = {k: trust_as_template(v) if isinstance(v, str) else v for k, v in base.items()}  # as Ansible trusts vars files
template = trust_as_template(open(root + "/roles/nginx/templates/nginx.conf.j2").read())
out = []
for values in json.load(sys.stdin):
    out.append(Templar(loader=DataLoader(), variables=dict(base, **values)).template(template))
json.dump(out, sys.stdout)
"""


def render_nginx(cases):
    """The nginx role's own template rendered by Ansible (with the collection's filters, so in a process of its own)
    with the role's defaults and vars and each mapping of ``cases``."""
    proc = subprocess.run([sys.executable, "-c", RENDER, str(ROOT)], input=json.dumps(cases), capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout)


# The nginx booleans its configuration template reads (the ACME ones, for example, are read by tasks only).
NGINX_TEMPLATE = (ROOT / "roles" / "nginx" / "templates" / "nginx.conf.j2").read_text()
NGINX_BOOLEANS = [name for role, name in TOP_LEVEL if role == "nginx" and name in NGINX_TEMPLATE]


CASES = [{name: value} for name in NGINX_BOOLEANS for value in [True, False, *sorted(SPELLINGS)]]


@pytest.fixture(scope="module")
def rendered():
    return {json.dumps(case): text for case, text in zip(CASES, render_nginx(CASES))}


@pytest.mark.parametrize("name", NGINX_BOOLEANS)
def test_each_nginx_boolean_changes_what_the_template_writes(name, rendered):
    """So that the next test can fail: true and false give different configurations."""
    assert rendered[json.dumps({name: True})] != rendered[json.dumps({name: False})]


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
@pytest.mark.parametrize("name", NGINX_BOOLEANS)
def test_each_spelling_of_an_nginx_boolean_writes_what_the_boolean_would(name, spelling, rendered):
    assert rendered[json.dumps({name: spelling})] == rendered[json.dumps({name: SPELLINGS[spelling]})]
