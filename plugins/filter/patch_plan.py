# Copyright: contributors to oscar_emr.remote_access
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the patch role decides with; the rules live in module_utils/_patch_plan.py and _clinic_health.py."""

from ansible.errors import AnsibleFilterError

from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _clinic_health, _patch_plan


def patch_plan(pending, scope="security", hold=None, cloudflared_version="latest"):
    """{"install", "held", "skipped"} from the pending updates of clinic_health or patch_apt_simulation."""
    if scope not in _patch_plan.SCOPES:
        raise AnsibleFilterError("patch_plan: scope %r is not one of %s" % (scope, ", ".join(_patch_plan.SCOPES)))
    return _patch_plan.plan(list(pending or []), scope, list(hold or []), str(cloudflared_version))


def patch_apt_simulation(output):
    """Packages `apt-get -s dist-upgrade` would install, with versions and whether a security source has them."""
    return _clinic_health.parse_apt_simulation(output or "")


def patch_window_errors(window, name="patch_maintenance_window"):
    """Problems with a maintenance window, each naming the variable and its value; [] when valid."""
    return _patch_plan.window_errors(window, name)


def patch_window_open(window, host_timezone="", now=None):
    """Whether the maintenance window is open now in the clinic's time zone."""
    try:
        return _patch_plan.window_open(window, host_timezone, now)
    except (KeyError, ValueError, TypeError) as exc:
        raise AnsibleFilterError("patch_window_open: %s" % exc) from exc


def patch_needrestart(output):
    """{"services": [...], "kernel_reboot": bool} from `needrestart -b` output."""
    return _patch_plan.parse_needrestart(output or "")


def patch_expiring(accounts, days=14, name_key="name"):
    """WireGuard peers (or gateway accounts, with name_key 'username') whose expiry date is within ``days`` (for the
    fleet report)."""
    return _patch_plan.expiring(accounts, int(days), name_key=name_key)


class FilterModule:
    def filters(self):
        return {
            "patch_plan": patch_plan,
            "patch_apt_simulation": patch_apt_simulation,
            "patch_window_errors": patch_window_errors,
            "patch_window_open": patch_window_open,
            "patch_needrestart": patch_needrestart,
            "patch_expiring": patch_expiring,
        }
