# Copyright: contributors to oscar_emr.remote_access
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that render the shared OSCAR path policy (module_utils/_oscar_paths.py) into nginx.conf."""

from ansible.errors import AnsibleFilterError

from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _oscar_paths


def _wrap(func):
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (ValueError, TypeError, AttributeError) as exc:
            raise AnsibleFilterError("%s: %s" % (func.__name__, exc)) from exc

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


@_wrap
def oscar_paths_blocked_regex(extra=None, context="/oscar"):
    """PCRE for every blocked path (built-in list plus ``extra``), to compare case-insensitively."""
    return _oscar_paths.blocked_regex(context=context, extra=extra or ())


@_wrap
def oscar_paths_canonical_regex(_ignored=None):
    """PCRE matching a canonical request target (compare case-insensitively with $request_uri)."""
    return _oscar_paths.canonical_regex()


@_wrap
def oscar_paths_machine_regex(context="/oscar"):
    """PCRE for integration-only paths (web services, lab uploads) under the context path."""
    return _oscar_paths.machine_regex(context)


@_wrap
def oscar_paths_login_regex(context="/oscar"):
    """PCRE for credential-checking paths rate-limited per client IP."""
    return _oscar_paths.login_regex(context)


@_wrap
def oscar_paths_blocked_list(extra=None, context="/oscar"):
    """The blocked entries (value, kind, reason) as a list of dicts, for documentation and checks."""
    return [dict(entry._asdict()) for entry in _oscar_paths.blocked_entries(context=context, extra=extra or ())]


class FilterModule:
    """OSCAR path policy filters."""

    def filters(self):
        return {
            "oscar_paths_blocked_regex": oscar_paths_blocked_regex,
            "oscar_paths_canonical_regex": oscar_paths_canonical_regex,
            "oscar_paths_machine_regex": oscar_paths_machine_regex,
            "oscar_paths_login_regex": oscar_paths_login_regex,
            "oscar_paths_blocked_list": oscar_paths_blocked_list,
        }
