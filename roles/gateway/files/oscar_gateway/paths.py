"""The request path the gateway decides on: exactly the one nginx routes on and Tomcat serves.

Thin wrapper over the collection's ``_oscar_paths`` module (the nginx role renders the same rules
into nginx.conf), so the gateway never has a normalizer of its own that could drift from nginx's:

* ``X-Original-URL`` (``$scheme://$host$request_uri``, the raw target) goes through
  ``_oscar_paths.normalize_target``; an ambiguous target raises ``PathRejected`` (the gateway
  answers 403; nginx has already answered such requests 400 before asking);
* every decision uses ``decision_path`` (percent-decoded, without a trailing ``;jsessionid``);
* the blocked list is ``_oscar_paths.blocked_regex``, compiled once.
"""

import functools
import re

from . import _shared

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PathRejected(ValueError):
    """The path is ambiguous or malformed: the gateway answers 403."""


def _module():
    module = _shared.oscar_paths_module()
    if module is None:
        raise RuntimeError("the collection's OSCAR path model (_oscar_paths.py) is missing")
    return module


class PathRules:
    def __init__(self, context="/oscar", extra_blocked=()):
        module = _module()
        self._module = module
        self._blocked = re.compile(module.blocked_regex(context, list(extra_blocked)), re.IGNORECASE)

    def normalize_url(self, original_url):
        """Decision path of an ``X-Original-URL`` value, or raise PathRejected. Remembered per URL (a pure function
        of it; the same pages are asked for over and over); refusals are not remembered."""
        return self._normalize_url(original_url)

    @staticmethod
    @functools.lru_cache(maxsize=4096)
    def _normalize_url(original_url):
        try:
            result = _module().normalize_target(original_url)
        except ValueError as exc:
            raise PathRejected(str(exc)) from exc
        path = result.decision_path
        if _CONTROL.search(path):
            raise PathRejected("control character in path")
        return path

    def is_blocked(self, decision_path):
        return self._blocked.search(decision_path) is not None


def prefix_matches(prefix, path):
    """Segment-wise prefix match, the same as the access-policy model's ``path_matches``."""
    module = _shared.access_policy_module()
    return module.path_matches(prefix, path)
