# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The clinic's access-policy model, in the style of community.crypto's ``_acme/``: one package, one purpose per file.

PRIVATE to this collection: it may change without notice. Standard library only.

* ``model.py``: the model and its validation. ``validate_access_policy(data, name="access_policy")`` checks the
  inventory variable and returns a normalised copy; errors raise ``AccessPolicyError`` naming the path and the value,
  for example ``access_policy.policies[2].include.ip_ranges[0]: '10.0.0.300/32' is not a valid CIDR``. The primitive
  checks come from ``module_utils/_problems.py``.
* ``decision.py``: the decision (``policies_for_path``, ``Membership``, ``Subject``, the request ``Evaluator`` and
  its outcomes, ``gateway_allow_policies_for``, ``gateway_mode_errors``): the one evaluator, for the gateway's
  requests and the gateway role's warnings.
* ``cloudflare.py``: the translation to Cloudflare Access (``cloudflare_plan``, ``policy_to_api`` /
  ``policy_from_api``, ``rules_to_api`` / ``rules_from_api``, comparisons), for the Cloudflare modules.

Clinic hosts receive ``model.py`` and ``decision.py`` only (the gateway role's ``__gateway_shared_modules``); this
file then exports what is there.
"""

from __future__ import annotations

from .decision import (  # noqa: F401
    ALLOW,
    AUTHENTICATOR_AMR,
    BYPASS,
    DENY,
    GATEWAY_BLIND_SELECTORS,
    LOGIN,
    SERVICE,
    Evaluator,
    Membership,
    Subject,
    authenticator_allowed,
    gateway_allow_policies_for,
    gateway_mode_errors,
    policies_for_path,
    shadowed_deny_warnings,
)
from .model import (  # noqa: F401
    _IDP_CONFIG,
    AUTH_METHODS,
    DECISIONS,
    GATEWAY_ONLY_SELECTORS,
    IDENTIFIER_RE,
    IDENTITY_SELECTORS,
    IDP_SECRET_KEYS,
    LOGIN_METHOD_TYPES,
    MAX_MFA_SESSION_DURATION,
    MAX_SESSION_DURATION,
    MFA_AUTHENTICATORS,
    MFA_ENFORCERS,
    NETWORK_SELECTORS,
    RULE_SELECTORS,
    SERVICE_TOKEN_SELECTORS,
    TARGETS,
    AccessPolicyError,
    api_idp_type,
    canonical_duration,
    contains_loopback,
    duration_seconds,
    durations_equal,
    empty_rules,
    model_idp_type,
    normalize_decision,
    normalize_login_method_type,
    path_matches,
    rules_empty,
    validate_access_policy,
    validate_cidr,
    validate_country,
    validate_duration,
    validate_email,
    validate_email_domain,
    validate_hostname,
    validate_idp_config,
    validate_login_method,
    validate_mfa_session,
    validate_path_prefix,
    validate_policy,
    validate_rules,
)

try:
    from .cloudflare import (  # noqa: F401
        cloudflare_mfa_config,
        cloudflare_plan,
        comparable_policy,
        comparable_rules,
        policy_from_api,
        policy_to_api,
        rules_from_api,
        rules_to_api,
    )
except ImportError as _error:  # a clinic host: the gateway has no use for the Cloudflare translation
    if _error.name not in (__name__ + ".cloudflare",):
        raise
