# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    # Options shared by every module of the cloudflare action group.
    DOCUMENTATION = r"""
options:
  api_token:
    description:
      - Cloudflare API token, sent in an C(Authorization) header as a C(Bearer) token.
      - If not set, the value of the E(CLOUDFLARE_API_TOKEN) environment variable is used.
      - Set it once for all modules with C(module_defaults) and C(group/oscar_emr.remote_access.cloudflare),
        from a Vault-encrypted variable.
      - "The token needs, as the module in use requires, the account permissions C(Access: Apps and Policies Write),
        C(Access: Organizations, Identity Providers, and Groups Write), C(Access: Service Tokens Write)
        and C(Cloudflare Tunnel Write)."
    type: str
    required: true
  account_id:
    description:
      - The 32-character hexadecimal Cloudflare account ID.
      - If not set, the value of the E(CLOUDFLARE_ACCOUNT_ID) environment variable is used.
    type: str
    required: true
  api_base_url:
    description:
      - Base URL of the Cloudflare API v4.
      - If not set, the value of the E(CLOUDFLARE_API_BASE_URL) environment variable is used, then the default.
      - Plain C(http://) is accepted only on a loopback address, for a local test double of the API.
    type: str
    default: https://api.cloudflare.com/client/v4
  api_timeout:
    description:
      - Seconds to wait for each HTTP answer.
    type: int
    default: 30
  api_retries:
    description:
      - How many times a request is retried, with exponential backoff, when Cloudflare answers HTTP 5xx or does not
        answer.
      - A C(POST), which may create an object, is retried only on 502, 503 and 504 (and on 429, see
        O(api_rate_limit_wait)).
    type: int
    default: 5
  api_rate_limit_wait:
    description:
      - Seconds the module may spend in all waiting out Cloudflare's rate limiting (HTTP 429) before it fails.
      - Cloudflare's global limit (1200 requests per 5 minutes per token) blocks the token for five minutes once
        exceeded, so the default waits out one whole block. Each wait is as long as the answer's C(Retry-After) asks
        (exponential backoff when it has none); a C(Retry-After) longer than the time left fails at once, with a
        message saying how long Cloudflare asked to wait. A run that had to wait warns about it.
      - V(0) fails on the first 429.
    type: int
    default: 330
  validate_certs:
    description:
      - Verify the TLS certificate of O(api_base_url).
    type: bool
    default: true
notes:
  - Objects are found by name, so a name must be unique within its kind in the account; the module fails and
    lists the ids when it finds duplicates.
  - Every run reads each managed object once and writes only when something differs from the requested state.
  - The result's RV(ignore:api_requests) counts the HTTP reads and writes the module made.
seealso:
  - name: Cloudflare API
    description: Reference of the Cloudflare API v4.
    link: https://developers.cloudflare.com/api/
"""

    # Attributes of the modules that talk to the Cloudflare API.
    ATTRIBUTES = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    details: Secrets never appear in the diff; they are shown as C(********) or left out.
    support: full
  action_group:
    description: Use C(group/oscar_emr.remote_access.cloudflare) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - oscar_emr.remote_access.cloudflare
"""
