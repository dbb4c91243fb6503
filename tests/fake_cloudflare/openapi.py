"""Validate the fake's requests and responses against Cloudflare's OpenAPI document.

The document is ``openapi-subset.json`` from the shared reference folder, found beside the
checkout (``<repo>/../shared/reference/cloudflare/``). It is a faithful 2024-08 extract of
``cloudflare/api-schemas`` (OpenAPI 3.0.3), so before use:

* OpenAPI 3.0 ``nullable: true`` becomes a JSON-Schema ``"null"`` type, and so does a schema whose
  own description says null is a value ("If `null`, the resource has not been deleted", tunnel
  timestamps), which the 2024 document forgot to mark nullable;
* OpenAPI 3.0 says a property that is ``readOnly`` and ``required`` is required in responses only,
  so request validation drops such names from ``required`` (``created_on``, ``proxiable``...);
* ``REQUEST_CORRECTIONS`` lists the few places where the 2024 document uses a response schema
  for a request, with the reason, and the 2024 document marks a JSON body *required* on two
  DELETEs (tunnel, DNS record) that cloudflared and community.general.cloudflare_dns send without
  one; a DELETE body is therefore optional (``OPTIONAL_BODY_METHODS``);
* several 4XX responses (tunnel ones, for instance) are declared ``allOf: [<success envelope>,
  <...-common-failure>]``, which no answer can satisfy (``success`` would have to be both true and
  false); such a failure answer is checked against the ``-common-failure`` part alone;
* fields the live API gained later, which api-contract.md documents as the current shape and
  marks "NEW", are overlaid (``OVERLAY_RULES`` below): today they would fail the 2024 ``oneOf`` of
  rule types; so is the rotate call's optional grace-period body (``OVERLAY_REQUEST_BODIES``).
  Nothing else is relaxed.

When the document is absent, ``load()`` returns ``(None, reason)`` and the caller says so.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO_ROOT.parent / "shared" / "reference" / "cloudflare" / "openapi-subset.json"
BASE_URI = "urn:cloudflare-openapi-subset"


def _rule(key, properties, required):
    return {
        "type": "object",
        "required": [key],
        "properties": {key: {"type": "object", "required": list(required), "properties": properties}},
        "title": "%s (NEW in api-contract.md, not in the 2024 subset)" % key,
    }


_STRING = {"type": "string"}
# Rule types api-contract.md section 2 lists as NEW (current API) that this collection may send.
OVERLAY_RULES = [
    _rule("login_method", {"id": _STRING}, ["id"]),
    _rule("common_name", {"common_name": _STRING}, ["common_name"]),
    _rule("oidc", {"claim_name": _STRING, "claim_value": _STRING, "identity_provider_id": _STRING},
          ["claim_name", "claim_value", "identity_provider_id"]),
    _rule("linked_app_token", {"app_uid": _STRING}, ["app_uid"]),
]


# schema name -> names a request need not carry, and why.
REQUEST_CORRECTIONS = {
    "dns-records_dns-record": (
        ["id"],
        "the create/update body and the response share this schema; a create cannot know the record id",
    ),
}


OPTIONAL_BODY_METHODS = ("DELETE",)

# Request bodies the live API gained after the 2024 document (api-contract.md, "2026 additions"):
# (path template, method) -> JSON schema of the body.
OVERLAY_REQUEST_BODIES = {
    ("/accounts/{account_id}/access/service_tokens/{service_token_id}/rotate", "post"): {
        "type": "object",
        "additionalProperties": False,
        "properties": {"previous_client_secret_expires_at": {"type": "string"}},
        "title": "rotate with a grace period (NEW in api-contract.md, not in the 2024 subset)",
    },
}


def _read_only_names(document):
    """Property names declared only as readOnly anywhere in the document."""
    schemas = document["components"]["schemas"]
    verdict = {}

    def is_read_only(schema):
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 20:
            schema = schemas.get(schema["$ref"].split("/")[-1], {})
            seen += 1
        return isinstance(schema, dict) and schema.get("readOnly") is True

    def walk(node):
        if isinstance(node, dict):
            for name, prop in (node.get("properties") or {}).items():
                verdict[name] = verdict.get(name, True) and is_read_only(prop)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document)
    return set(name for name, read_only in verdict.items() if read_only)


def _for_requests(node, read_only):
    if isinstance(node, list):
        return [_for_requests(item, read_only) for item in node]
    if not isinstance(node, dict):
        return node
    out = dict((k, _for_requests(v, read_only)) for k, v in node.items())
    if isinstance(out.get("required"), list):
        out["required"] = [name for name in out["required"] if name not in read_only]
        if not out["required"]:
            del out["required"]
    return out


def _convert(node):
    """OpenAPI 3.0 schema -> JSON Schema draft 4 (nullable, internal $refs made absolute)."""
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
            out[key] = BASE_URI + value
        elif key in ("example", "examples", "x-auditable", "readOnly", "writeOnly", "discriminator", "xml",
                     "externalDocs", "deprecated"):
            continue
        else:
            out[key] = _convert(value)
    described_null = "If `null`" in str(node.get("description", ""))
    if node.get("nullable") is True or described_null:
        out.pop("nullable", None)
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            if "null" not in types:
                out["type"] = [*types, "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        if "type" not in out:
            out = {"anyOf": [out, {"type": "null"}]}
    else:
        out.pop("nullable", None)
    return out


class OpenAPIContract:
    """Operations of the OpenAPI document, with request/response validation."""

    def __init__(self, document, source):
        self.source = str(source)
        self.document = document
        converted = _convert(copy.deepcopy(document))
        for (template, method), schema in OVERLAY_REQUEST_BODIES.items():
            converted["paths"][template][method]["requestBody"] = {
                "content": {"application/json": {"schema": schema}}, "required": False}
        rule = converted["components"]["schemas"]["access_rule"]
        rule["oneOf"] = list(rule["oneOf"]) + copy.deepcopy(OVERLAY_RULES)
        self.converted = converted
        requests = _for_requests(converted, _read_only_names(document))
        for name, correction in REQUEST_CORRECTIONS.items():
            fields = correction[0]
            schema = requests["components"]["schemas"][name]
            schema["required"] = [f for f in schema.get("required", []) if f not in fields]
        self.request_registry = Registry().with_resource(
            BASE_URI, Resource(contents=requests, specification=DRAFT4))
        self.registry = Registry().with_resource(BASE_URI, Resource(contents=converted, specification=DRAFT4))
        self.operations = []
        for template, item in document["paths"].items():
            pattern = "^" + re.sub(r"\{([^}]+)\}", r"(?P<\1>[^/]+)", template.replace(".", r"\.")) + "$"
            literal = len(re.sub(r"\{[^}]+\}", "", template))
            for method in item:
                if method.lower() in ("get", "post", "put", "patch", "delete"):
                    converted_op = converted["paths"][template][method]
                    self.operations.append((re.compile(pattern), literal, method.upper(), template, converted_op))
        # Most literal characters first, so /access/apps/{id}/policies beats /access/apps/{id}.
        self.operations.sort(key=lambda entry: -entry[1])

    @classmethod
    def load(cls, path=None):
        """(contract, None) or (None, reason why not)."""
        path = Path(path) if path else SPEC_PATH
        if not path.is_file():
            return None, "OpenAPI document not found at %s; only the hand-written contract checks run" % path
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            return None, "OpenAPI document at %s is unreadable: %s" % (path, error)
        return cls(document, path), None

    def operation(self, method, path):
        for entry in self.operations:
            pattern, op_method, template, operation = entry[0], entry[2], entry[3], entry[4]
            if op_method == method and pattern.match(path):
                return template, operation
        return None, None

    def _errors(self, schema, instance, where, registry=None):
        validator = jsonschema.Draft4Validator(schema, registry=registry or self.registry)
        errors = []
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
            pointer = "/".join(str(p) for p in error.absolute_path)
            detail = error.message
            if error.context:
                best = jsonschema.exceptions.best_match(error.context)
                detail += " (closest: %s at /%s)" % (best.message, "/".join(str(p) for p in best.absolute_path))
            errors.append("%s /%s: %s" % (where, pointer, detail[:600]))
        return errors

    def validate_request(self, method, path, query, body):
        template, operation = self.operation(method, path)
        if operation is None:
            return None, []
        errors = []
        for parameter in operation.get("parameters", []):
            if parameter.get("in") != "query":
                continue
            name = parameter["name"]
            if name not in query:
                if parameter.get("required"):
                    errors.append("query parameter %r is required" % name)
                continue
            value = _coerce(query[name], parameter.get("schema", {}), self.converted)
            errors += self._errors(parameter.get("schema", {}), value, "query %s" % name)
        request_body = operation.get("requestBody")
        if request_body:
            schema = request_body.get("content", {}).get("application/json", {}).get("schema")
            if body is None:
                if request_body.get("required") and method not in OPTIONAL_BODY_METHODS:
                    errors.append("%s %s needs a JSON request body" % (method, template))
            elif schema is not None:
                errors += self._errors(schema, body, "request body", self.request_registry)
        elif body not in (None, {}):
            errors.append("%s %s takes no request body" % (method, template))
        return template, errors

    def validate_response(self, method, path, status, body):
        template, operation = self.operation(method, path)
        if operation is None:
            return []
        responses = operation.get("responses", {})
        spec = responses.get(str(status)) or responses.get("%dXX" % (status // 100)) or responses.get("default")
        if spec is None:
            return ["%s %s: status %s is not documented (documented: %s)"
                    % (method, template, status, ", ".join(sorted(responses)))]
        schema = spec.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            return []
        if status >= 400 and isinstance(schema, dict) and "allOf" in schema:
            failure = [part for part in schema["allOf"] if str(part.get("$ref", "")).endswith("common-failure")]
            if failure:
                schema = failure[0]
        return self._errors(schema, body, "response %s" % status)


def _resolve(schema, converted):
    while isinstance(schema, dict) and "$ref" in schema:
        pointer = schema["$ref"][len(BASE_URI) + 2:].split("/")
        node = converted
        for part in pointer:
            node = node[part]
        schema = node
    return schema


def _coerce(raw, schema, converted):
    schema = _resolve(schema, converted)
    kind = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw) if "." in raw else int(raw)
        if kind == "boolean":
            return {"true": True, "false": False}.get(raw.lower(), raw)
    except ValueError:
        return raw
    return raw
