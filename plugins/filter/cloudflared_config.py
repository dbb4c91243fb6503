# -*- coding: utf-8 -*-
# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the cloudflared role: settings checks, config.yml, ingress validation and version parsing.

They run on the controller, so the role's checks fail before anything changes on a host. The logic
lives in module_utils/_cloudflared_ingress.py, shared with the unit tests and the test double.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.oscar_emr.remote_access.plugins.module_utils import _cloudflared_ingress as _model


def _wrap(func):
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise AnsibleFilterError("%s: %s" % (func.__name__, exc)) from exc

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def _plain(value):
    """Deep-copy templated containers into plain dicts and lists."""
    if isinstance(value, dict):
        return dict((k, _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@_wrap
def cloudflared_problems(settings):
    """Every problem with the role's settings; each message starts with the variable's name."""
    return _model.settings_problems(_plain(settings))


@_wrap
def cloudflared_config(settings):
    """The config.yml document (a mapping) for this host's connector."""
    return _model.build_config(_plain(settings))


@_wrap
def cloudflared_ingress_report(rules, defaults=None, strict=True):
    """Check ingress rules like cloudflared does: {'errors': [...], 'warnings': [...]}."""
    report = _model.validate_ingress(_plain(rules), _plain(defaults), strict=strict)
    return {"errors": report.errors, "warnings": report.warnings}


@_wrap
def cloudflared_egress_rules(settings, destinations):
    """The connector's outbound needs in the firewall role's firewall_egress_rules format."""
    return _model.egress_rules(_plain(settings), _plain(destinations))


@_wrap
def cloudflared_version(text):
    """The release in `cloudflared --version` output ('2025.8.0'), or '' when there is none."""
    return _model.parse_version(text) or ""


@_wrap
def cloudflared_token_file_supported(version):
    """Whether this release understands `tunnel run --token-file` (2025.4.0 and later)."""
    return _model.supports_token_file(version)


@_wrap
def cloudflared_help_has_flag(text, flag):
    """Whether `cloudflared ... --help` output lists --flag (read from the text: unknown flags exit 0)."""
    return _model.help_lists_flag(text, flag)


@_wrap
def cloudflared_ready_url(address):
    """The /ready URL of a metrics address such as 127.0.0.1:20241."""
    return _model.ready_url(address)


@_wrap
def cloudflared_test_edge_option(value):
    """cloudflared_test_edge (an address or a list) as tunnel options: ' --edge ADDRESS' each, '' without one."""
    return _model.pinned_edge_options(_plain(value))


class FilterModule(object):
    """cloudflared role filters."""

    def filters(self):
        return {
            "cloudflared_problems": cloudflared_problems,
            "cloudflared_config": cloudflared_config,
            "cloudflared_ingress_report": cloudflared_ingress_report,
            "cloudflared_egress_rules": cloudflared_egress_rules,
            "cloudflared_version": cloudflared_version,
            "cloudflared_token_file_supported": cloudflared_token_file_supported,
            "cloudflared_ready_url": cloudflared_ready_url,
            "cloudflared_help_has_flag": cloudflared_help_has_flag,
            "cloudflared_test_edge_option": cloudflared_test_edge_option,
        }
