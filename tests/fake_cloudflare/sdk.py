"""Validate the fake's answers against the response models of Cloudflare's official Python SDK.

The OpenAPI subset beside the checkout is from 2024; the SDK (``cloudflare`` 5.x on PyPI, a test
dependency pinned in constraints.txt) is generated from Cloudflare's current spec, so its models know
the newer fields and which ones are required (a zone without ``plan`` fails, for instance). Each route
of the fake names the SDK type its ``result`` is parsed into by the SDK's own resource method
(``cast_to`` / ``model=`` in ``cloudflare/resources/...``); a list route names the type of one item.

The models accept extra keys (Stainless models are ``extra="allow"``), so this catches missing
required fields and wrong types, not unknown fields: ``contract.py`` keeps requests strict.

When the SDK is not installed, ``load()`` returns ``(None, reason)`` and the caller says so.
"""

from __future__ import annotations


def _types():
    """route function name -> (SDK type of the result, True when the result is a list of them)."""
    from cloudflare.types.dns import RecordDeleteResponse, RecordResponse
    from cloudflare.types.shared import CloudflareTunnel
    from cloudflare.types.zero_trust import (
        IdentityProvider,
        IdentityProviderDeleteResponse,
        IdentityProviderListResponse,
        Organization,
    )
    from cloudflare.types.zero_trust.access import (
        ApplicationCreateResponse,
        ApplicationDeleteResponse,
        ApplicationGetResponse,
        ApplicationListResponse,
        ApplicationUpdateResponse,
        GroupCreateResponse,
        GroupDeleteResponse,
        GroupGetResponse,
        GroupListResponse,
        GroupUpdateResponse,
        PolicyCreateResponse,
        PolicyDeleteResponse,
        PolicyGetResponse,
        PolicyListResponse,
        PolicyUpdateResponse,
        ServiceToken,
        ServiceTokenCreateResponse,
        ServiceTokenRotateResponse,
    )
    from cloudflare.types.zero_trust.access.logs import AccessRequest
    from cloudflare.types.zero_trust.tunnels.cloudflared import ConfigurationGetResponse, ConfigurationUpdateResponse
    from cloudflare.types.zones import Zone

    return {
        "list_policies": (PolicyListResponse, True),
        "create_policy": (PolicyCreateResponse, False),
        "get_policy": (PolicyGetResponse, False),
        "put_policy": (PolicyUpdateResponse, False),
        "delete_policy": (PolicyDeleteResponse, False),
        "list_groups": (GroupListResponse, True),
        "create_group": (GroupCreateResponse, False),
        "get_group": (GroupGetResponse, False),
        "put_group": (GroupUpdateResponse, False),
        "delete_group": (GroupDeleteResponse, False),
        "list_idps": (IdentityProviderListResponse, True),
        "create_idp": (IdentityProvider, False),
        "get_idp": (IdentityProvider, False),
        "put_idp": (IdentityProvider, False),
        "delete_idp": (IdentityProviderDeleteResponse, False),
        "list_tokens": (ServiceToken, True),
        "create_token": (ServiceTokenCreateResponse, False),
        "get_token": (ServiceToken, False),
        "put_token": (ServiceToken, False),
        "delete_token": (ServiceToken, False),
        "refresh_token": (ServiceToken, False),
        "rotate_token": (ServiceTokenRotateResponse, False),
        "list_apps": (ApplicationListResponse, True),
        "create_app": (ApplicationCreateResponse, False),
        "get_app": (ApplicationGetResponse, False),
        "put_app": (ApplicationUpdateResponse, False),
        "delete_app": (ApplicationDeleteResponse, False),
        "list_access_requests": (AccessRequest, True),
        "organization": (Organization, False),
        "put_organization": (Organization, False),
        "list_tunnels": (CloudflareTunnel, True),
        "create_tunnel": (CloudflareTunnel, False),
        "get_tunnel": (CloudflareTunnel, False),
        "patch_tunnel": (CloudflareTunnel, False),
        "delete_tunnel": (CloudflareTunnel, False),
        "tunnel_token": (str, False),
        "delete_tunnel_connections": (object, False),
        "get_tunnel_config": (ConfigurationGetResponse, False),
        "put_tunnel_config": (ConfigurationUpdateResponse, False),
        "list_zones": (Zone, True),
        "list_dns": (RecordResponse, True),
        "create_dns": (RecordResponse, False),
        "get_dns": (RecordResponse, False),
        "put_dns": (RecordResponse, False),
        "delete_dns": (RecordDeleteResponse, False),
    }


class SDKContract:
    """Checks a route's ``result`` with pydantic against the SDK's model for it."""

    def __init__(self):
        import cloudflare
        import pydantic

        self.source = "cloudflare %s (official Python SDK)" % cloudflare.__version__
        self._pydantic = pydantic
        self._types = _types()
        self._adapters = {}

    @classmethod
    def load(cls):
        """(contract, None) or (None, reason why not)."""
        try:
            return cls(), None
        except ImportError as error:
            return None, "the official Cloudflare SDK is not installed (%s); only the other checks run" % error

    def knows(self, route):
        return route in self._types

    def validate(self, route, result):
        """Messages for ``result`` (the envelope's ``result`` of a successful answer of ``route``)."""
        if route not in self._types:
            return ["no SDK model is mapped for the fake's route %s: add it to sdk.py" % route]
        kind, is_list = self._types[route]
        key = (kind, is_list)
        if key not in self._adapters:
            self._adapters[key] = self._pydantic.TypeAdapter(list[kind] if is_list else kind)
        try:
            self._adapters[key].validate_python(result)
        except self._pydantic.ValidationError as error:
            name = getattr(kind, "__name__", None) or str(kind)
            return ["%s%s: %s" % (name, "[]" if is_list else "", line)
                    for line in _lines(error)]
        return []


def _lines(error):
    out = []
    for item in error.errors()[:10]:
        where = ".".join(str(part) for part in item.get("loc", ()))
        out.append("%s: %s" % (where or "(result)", item.get("msg")))
    return out
