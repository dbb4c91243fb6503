"""Every role keeps its documented contract: argument specs, defaults and README agree.

The drift this guards against (specs whose defaults differ from defaults/main.yml, variables
nobody documented) is the most common slip of published roles.
"""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir()) if (ROOT / "roles").is_dir() else []


def load(path):
    return yaml.safe_load(path.read_text()) or {}


def main_spec(role):
    spec_file = role / "meta" / "argument_specs.yml"
    assert spec_file.is_file(), f"{role.name}: meta/argument_specs.yml is missing"
    specs = load(spec_file)["argument_specs"]
    assert "main" in specs, f"{role.name}: argument_specs has no 'main' entry point"
    return specs["main"].get("options", {})


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_every_default_is_specified_with_the_same_value(role):
    defaults = load(role / "defaults" / "main.yml") if (role / "defaults" / "main.yml").exists() else {}
    options = main_spec(role)
    missing = sorted(set(defaults) - set(options))
    assert not missing, f"{role.name}: defaults not in argument_specs: {missing}"
    for name, value in defaults.items():
        spec = options[name]
        assert "default" in spec or spec.get("required"), f"{role.name}: {name} has a default but the spec gives none"
        assert spec.get("default") == value, (
            f"{role.name}: {name} defaults to {value!r} in defaults/main.yml but {spec.get('default')!r} in the spec"
        )


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_every_specified_option_has_a_default_or_is_required(role):
    defaults = load(role / "defaults" / "main.yml") if (role / "defaults" / "main.yml").exists() else {}
    for name, spec in main_spec(role).items():
        assert name in defaults or spec.get("required"), f"{role.name}: {name} is in the spec but has no default"
        assert spec.get("description"), f"{role.name}: {name} has no description in the spec"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_every_default_has_a_comment(role):
    path = role / "defaults" / "main.yml"
    if not path.exists():
        return
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines):
        if line and not line.startswith((" ", "#", "-")) and ":" in line:
            previous = lines[number - 1] if number else ""
            assert previous.startswith("#"), f"{role.name}: defaults/main.yml line {number + 1} lacks a comment: {line}"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_readme_documents_every_option(role):
    readme = role / "README.md"
    assert readme.is_file(), f"{role.name}: README.md is missing"
    text = readme.read_text()
    for section in ("## Requirements", "## Role Variables", "## Dependencies", "## Example Playbook", "## License"):
        assert section in text, f"{role.name}: README has no '{section}' section"
    undocumented = sorted(name for name in main_spec(role) if f"`{name}`" not in text)
    assert not undocumented, f"{role.name}: README does not mention {undocumented}"
