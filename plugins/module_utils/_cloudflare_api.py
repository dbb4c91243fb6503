# -*- coding: utf-8 -*-
# Copyright: oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A small Cloudflare API v4 client on Ansible's own HTTP helper (no SDK).

PRIVATE to this collection: it may change without notice.

* API token auth (``Authorization: Bearer``), JSON bodies.
* The ``{success, errors, messages, result, result_info}`` envelope: failures raise
  ``CloudflareAPIError`` carrying the HTTP status and Cloudflare's error codes and messages.
* Pagination read from ``result_info`` (``page``/``per_page``/``count``/``total_count``/
  ``total_pages``), as cloudflared's ``fetchExhaustively`` does.
* Retries with exponential backoff on HTTP 5xx and network errors, at most ``max_retries`` times. A
  POST, which may create something, is retried only on 429, 502, 503 and 504, where the request did
  not reach the origin or was refused before being processed; other methods are idempotent and are
  retried on any 5xx and on network timeouts.
* Rate limiting (HTTP 429) is waited out rather than retried a fixed number of times: Cloudflare's
  global limit (1200 requests per 5 minutes per token) blocks the token for five minutes, so the
  client sleeps as long as ``Retry-After`` asks, for as many 429s as it takes, until
  ``rate_limit_wait`` seconds (default 330: the block plus a margin) have been spent waiting; then,
  or when a single ``Retry-After`` asks for more than is left, it fails with a message that says so.
  Each wait is recorded in ``rate_limit_waits`` so the module can warn about it.
* A timeout on every request.
"""

from __future__ import annotations

import email.utils
import json
import random
import socket
import time
import urllib.error
from urllib.parse import quote, urlencode

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
USER_AGENT = "oscar_emr.remote_access (Ansible; +https://example.invalid/oscar_emr/remote_access)"
IDEMPOTENT_METHODS = ("GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS")
POST_RETRY_STATUSES = (429, 502, 503, 504)
# Cloudflare's global API limit blocks a token for 5 minutes; wait that out plus a margin.
RATE_LIMIT_BLOCK_SECONDS = 300
DEFAULT_RATE_LIMIT_WAIT = RATE_LIMIT_BLOCK_SECONDS + 30


class CloudflareAPIError(Exception):
    """A Cloudflare API call failed. ``status`` is None when no HTTP answer came back."""

    def __init__(self, method, path, status=None, errors=None, messages=None, detail=None):
        self.method = method
        self.path = path
        self.status = status
        self.errors = list(errors or [])
        self.messages = list(messages or [])
        self.detail = detail
        super().__init__(self.describe())

    @property
    def codes(self):
        return [e.get("code") for e in self.errors if isinstance(e, dict)]

    def describe(self):
        where = "%s %s" % (self.method, self.path)
        head = "Cloudflare API %s failed" % where
        if self.status is not None:
            head += " (HTTP %s)" % self.status
        parts = []
        for error in self.errors:
            if isinstance(error, dict):
                text = "[%s] %s" % (error.get("code"), error.get("message"))
                chain = error.get("error_chain") or []
                if chain:
                    text += " (%s)" % "; ".join("[%s] %s" % (c.get("code"), c.get("message")) for c in chain)
                pointer = (error.get("source") or {}).get("pointer")
                if pointer:
                    text += " at %s" % pointer
                parts.append(text)
            else:
                parts.append(str(error))
        if self.detail:
            parts.append(self.detail)
        return head + (": " + "; ".join(parts) if parts else "")

    def as_dict(self):
        return {"method": self.method, "path": self.path, "status": self.status, "errors": self.errors,
                "messages": self.messages}


def _retry_after(headers):
    if not headers:
        return None
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value is None:
        return None
    value = str(value).strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class CloudflareClient:
    """Calls the Cloudflare API. ``sleep`` and ``opener`` can be replaced in tests."""

    def __init__(self, api_token, base_url=DEFAULT_BASE_URL, timeout=30, max_retries=5, backoff=1.0,
                 max_backoff=60.0, validate_certs=True, sleep=time.sleep, opener=open_url,
                 rate_limit_wait=DEFAULT_RATE_LIMIT_WAIT):
        if not api_token:
            raise ValueError("a Cloudflare API token is required")
        self.api_token = api_token
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.timeout = timeout
        self.max_retries = max(0, int(max_retries))
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.validate_certs = validate_certs
        self.sleep = sleep
        self.opener = opener
        self.rate_limit_wait = max(0.0, float(rate_limit_wait))
        # Seconds slept because of HTTP 429, one entry per wait (the module warns about them).
        self.rate_limit_waits = []
        # Every HTTP exchange: (method, path, status). Modules report reads/writes from it.
        self.log = []

    # -- plumbing ---------------------------------------------------------------------------

    def _url(self, path, query):
        url = self.base_url + path
        if query:
            items = [(k, v) for k, v in query.items() if v is not None]
            items = [(k, ("true" if v else "false") if isinstance(v, bool) else v) for k, v in items]
            if items:
                url += "?" + urlencode(items, doseq=True)
        return url

    def _delay(self, attempt, headers):
        hinted = _retry_after(headers)
        if hinted is not None:
            return min(hinted, self.max_backoff)
        base = self.backoff * (2 ** attempt)
        return min(base + random.uniform(0, self.backoff), self.max_backoff)  # noqa: S311 - jitter, not crypto

    def _rate_limit_delay(self, count, headers):
        """Seconds to wait after the ``count``-th 429 in a row, or None when the wait budget would be exceeded."""
        hinted = _retry_after(headers)
        if hinted is None:
            hinted = min(self.backoff * (2 ** count), self.max_backoff)
        left = self.rate_limit_wait - sum(self.rate_limit_waits)
        if hinted > left:
            return None
        return hinted

    def _rate_limited(self, method, path, status, raw, headers):
        waited = sum(self.rate_limit_waits)
        hinted = _retry_after(headers)
        detail = ("Cloudflare is rate-limiting this API token (HTTP 429). Its global limit is 1200 requests per "
                  "5 minutes per token, and going over blocks the token for 5 minutes. Waited %d s in all"
                  % round(waited))
        if hinted is not None:
            detail += "; Retry-After now asks for %d s more" % round(hinted)
        detail += (", beyond this module's rate-limit wait of %d s. Re-run later, and run fewer clinics at once "
                   "with the same token (CLINIC_PARALLEL)" % round(self.rate_limit_wait))
        try:
            envelope = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, ValueError):
            envelope = {}
        errors = envelope.get("errors") if isinstance(envelope, dict) else None
        return CloudflareAPIError(method, path, status, errors, detail=detail)

    def _may_retry(self, method, status):
        if status is not None and status >= 500:
            return method in IDEMPOTENT_METHODS or status in POST_RETRY_STATUSES
        return False

    def _exchange(self, method, url, data, headers):
        """One HTTP exchange: (status, headers, raw body) or raises a network error."""
        try:
            response = self.opener(
                url, data=data, headers=headers, method=method, timeout=self.timeout,
                validate_certs=self.validate_certs, http_agent=USER_AGENT, follow_redirects="none",
                use_netrc=False,
            )
        except urllib.error.HTTPError as error:
            try:
                body = error.read()
            except Exception:  # noqa: BLE001 - the status is what matters then
                body = b""
            return error.code, error.headers, body
        status = getattr(response, "status", None) or response.getcode()
        return status, response.headers, response.read()

    def request(self, method, path, query=None, body=None):
        """One API call with retries; returns the decoded envelope (a dict)."""
        method = method.upper()
        url = self._url(path, query)
        headers = {"Authorization": "Bearer %s" % self.api_token, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        attempt = 0  # retries after network errors and 5xx
        limited = 0  # waits after 429
        while True:
            try:
                status, response_headers, raw = self._exchange(method, url, data, headers)
            except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, UrlsConnectionError) as error:
                self.log.append((method, path, None))
                reason = getattr(error, "reason", error)
                refused = isinstance(reason, ConnectionRefusedError)
                retry = method in IDEMPOTENT_METHODS or refused
                if retry and attempt < self.max_retries:
                    self.sleep(self._delay(attempt, None))
                    attempt += 1
                    continue
                raise CloudflareAPIError(method, path, detail="no answer: %s" % reason) from None
            self.log.append((method, path, status))
            if status == 429:
                delay = self._rate_limit_delay(limited, response_headers)
                if delay is None:
                    raise self._rate_limited(method, path, status, raw, response_headers)
                self.rate_limit_waits.append(delay)
                self.sleep(delay)
                limited += 1
                continue
            if self._may_retry(method, status) and attempt < self.max_retries:
                self.sleep(self._delay(attempt, response_headers))
                attempt += 1
                continue
            return self._decode(method, path, status, raw)

    def _decode(self, method, path, status, raw):
        try:
            envelope = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, ValueError):
            envelope = None
        if not isinstance(envelope, dict):
            snippet = raw[:200].decode("utf-8", "replace") if raw else "an empty body"
            raise CloudflareAPIError(method, path, status, detail="the answer is not a Cloudflare JSON envelope: %s"
                                     % snippet)
        if status >= 400 or not envelope.get("success", False):
            raise CloudflareAPIError(method, path, status, envelope.get("errors"), envelope.get("messages"))
        return envelope

    # -- verbs ------------------------------------------------------------------------------

    def get(self, path, query=None):
        return self.request("GET", path, query)["result"]

    def post(self, path, body=None, query=None):
        return self.request("POST", path, query, {} if body is None else body)["result"]

    def put(self, path, body, query=None):
        return self.request("PUT", path, query, body)["result"]

    def patch(self, path, body, query=None):
        return self.request("PATCH", path, query, body)["result"]

    def delete(self, path, query=None):
        return self.request("DELETE", path, query)["result"]

    def list(self, path, query=None, per_page=50, max_pages=1000):
        """Every item of a collection, following ``result_info`` page by page."""
        items = []
        page = 1
        while page <= max_pages:
            params = dict(query or {})
            params.update(page=page, per_page=per_page)
            envelope = self.request("GET", path, params)
            result = envelope.get("result") or []
            if not isinstance(result, list):
                raise CloudflareAPIError("GET", path, 200, detail="expected a list in 'result'")
            items.extend(result)
            info = envelope.get("result_info") or {}
            count = info.get("count", len(result))
            size = info.get("per_page") or per_page
            total_pages = info.get("total_pages")
            total_count = info.get("total_count")
            if not result or count < size:
                break
            if total_pages is not None and page >= total_pages:
                break
            if total_pages is None and total_count is not None and len(items) >= total_count:
                break
            if not info:
                break
            page += 1
        return items

    # -- statistics -------------------------------------------------------------------------

    @property
    def reads(self):
        return sum(1 for entry in self.log if entry[0] == "GET")

    @property
    def writes(self):
        return sum(1 for entry in self.log if entry[0] != "GET")


def account_path(account_id, *parts):
    """``/accounts/<id>/<parts...>`` with every part URL-quoted."""
    path = "/accounts/%s" % quote(str(account_id), safe="")
    for part in parts:
        path += "/" + quote(str(part), safe="")
    return path
