"""cloudflare_access_seats: seats counted across the clinic inventories that share one account."""

import pytest
import yaml

from tests.fake_cloudflare.harness import run_module, run_tasks

pytestmark = pytest.mark.integration

ACCOUNT = "0123456789abcdef0123456789abcdef"
OTHER_ACCOUNT = "fedcba9876543210fedcba9876543210"


def model(prefix, emails, domains=(), everyone=False):
    include = {"emails": list(emails)}
    if domains:
        include["email_domains"] = list(domains)
    if everyone:
        include = {"everyone": True}
    return {"name_prefix": prefix, "application": {"name": prefix + "OSCAR", "domain": "emr.%s.example" % prefix[:-2]},
            "policies": [{"name": "staff", "decision": "allow", "include": include},
                         {"name": "lab", "decision": "bypass", "paths": ["/oscar/ws"],
                          "include": {"ip_ranges": ["203.0.113.10/32"]}}]}


def people(clinic, n):
    return ["person%d@%s.example" % (i, clinic) for i in range(n)]


def write_inventory(root, name, account, access_policy, split=False, vault=False):
    folder = root / name / "group_vars" / "all"
    folder.mkdir(parents=True)
    if split:
        (folder / "cloudflare.yml").write_text(yaml.safe_dump({"cloudflare_account_id": account}))
        (folder / "access_policy.yml").write_text(yaml.safe_dump({"access_policy": access_policy}))
    else:
        (folder / "all.yml").write_text(yaml.safe_dump({"cloudflare_account_id": account,
                                                        "access_policy": access_policy}))
    if vault:
        (folder / "vault.yml").write_text("$ANSIBLE_VAULT;1.1;AES256\n3132\n")
    return root / name


def args(fleet, own, access_policy, **extra):
    out = {"account_id": ACCOUNT, "access_policy": access_policy, "clinic": own.name, "inventory_dir": str(own),
           "inventories_dir": str(fleet)}
    out.update(extra)
    return out


def test_seats_are_counted_across_the_account_and_refused_above_the_free_plan(tmp_path):
    fleet = tmp_path / "inventories"
    mine = model("north: ", people("shared", 10) + people("north", 15))
    own = write_inventory(fleet, "north", ACCOUNT, mine)
    write_inventory(fleet, "south", ACCOUNT, model("south: ", people("shared", 10) + people("south", 20)), split=True,
                    vault=True)
    write_inventory(fleet, "elsewhere", OTHER_ACCOUNT, model("else: ", people("else", 40)))
    (fleet / "notes.txt").write_text("not an inventory")

    counted = run_module(None, tmp_path, "cloudflare_access_seats", args(fleet, own, mine))
    # 10 people work at both clinics and take one seat each: 10 + 15 + 20
    assert not counted.get("failed")
    assert counted["seats"] == 45 and counted["clinics"] == {"north": 25, "south": 30}
    assert counted["changed"] is False and counted["open_ended"] == [] and counted["skipped"] == []
    assert any("45 people can be admitted by the 2 clinic(s) sharing Cloudflare account" in w
               and "close to the plan's 50 seats" in w for w in counted["warnings"])

    bigger = model("north: ", people("shared", 10) + people("north", 25))
    refused = run_module(None, tmp_path, "cloudflare_access_seats", args(fleet, own, bigger))
    assert refused["failed"] is True and refused["seats"] == 55
    assert refused["msg"].startswith("55 people can be admitted by the 2 clinic(s) sharing Cloudflare account %s "
                                     "(north: 35, south: 30), more than the plan's 50 seats" % ACCOUNT)
    assert "cloudflare_account_plan: paid" in refused["msg"]

    paid = run_module(None, tmp_path, "cloudflare_access_seats", args(fleet, own, bigger, paid_plan=True))
    assert not paid.get("failed") and paid["seats"] == 55
    assert any("more than the plan's 50 seats" in w for w in paid["warnings"])


def test_open_ended_includes_make_a_lower_bound_unless_estimated(tmp_path):
    fleet = tmp_path / "inventories"
    mine = model("north: ", people("north", 5), domains=["north.example"])
    own = write_inventory(fleet, "north", ACCOUNT, mine)
    write_inventory(fleet, "south", ACCOUNT, model("south: ", [], everyone=True))
    templated = model("west: ", people("west", 3))
    templated["application"]["domain"] = "{{ clinic_oscar_hostname }}"
    write_inventory(fleet, "west", ACCOUNT, templated)

    lower = run_module(None, tmp_path, "cloudflare_access_seats", args(fleet, own, mine))
    assert lower["seats"] == 5
    assert lower["open_ended"] == [{"clinic": "north", "policy": "staff", "what": "email_domain:north.example"},
                                   {"clinic": "south", "policy": "staff", "what": "everyone"}]
    assert any(w.startswith("The seat count is a lower bound") for w in lower["warnings"])
    assert lower["skipped"] == ["west: access_policy uses Jinja templates or Vault values, which cannot be read here"]

    estimated = run_module(None, tmp_path, "cloudflare_access_seats",
                           args(fleet, own, mine, domain_estimates={"north.example": 30}))
    # the domain's 30 people include the 5 listed ones
    assert estimated["seats"] == 30 and estimated["estimated"] == {"north.example": 30}
    assert estimated["open_ended"] == [{"clinic": "south", "policy": "staff", "what": "everyone"}]


def test_bad_arguments(tmp_path):
    mine = model("north: ", people("north", 1))
    cases = [
        ({"account_id": ACCOUNT, "access_policy": mine, "clinic": "n", "inventories_dir": str(tmp_path / "nowhere")},
         "is not a directory"),
        ({"account_id": ACCOUNT, "access_policy": mine, "clinic": "n", "domain_estimates": {"x.example": "many"}},
         "domain_estimates.x.example: 'many' must be a whole number"),
        ({"account_id": ACCOUNT, "access_policy": dict(mine, policies=[]), "clinic": "n"},
         "access_policy.policies: must define at least one policy"),
    ]
    results = run_tasks(None, tmp_path, [("cloudflare_access_seats", c[0]) for c in cases])
    for (arguments, message), result in zip(cases, results):
        assert result["failed"] is True and message in result["msg"], (arguments, result.get("msg"))
