"""Records from outside the gateway, turned into audit records of its hash chain.

* Cloudflare Access authentication logs (what the ``cloudflare_access_logs`` module returns), keyed by
  Cloudflare's request id: ``cloudflare:<ray_id>``.
* WireGuard handshakes, from ``wg show <interface> latest-handshakes`` and ``... endpoints`` and the peer
  list the wireguard role keeps (``/etc/wireguard/<interface>.peers.json``, no secrets), keyed by
  ``wireguard:<public key>:<handshake time>``. ``wg show ... dump`` is not read: it carries the private key
  and the preshared keys.

The store (``store.append_external``) adds each key once, so a pull may overlap the previous one.
"""

import datetime
import ipaddress
import json
import re

CLOUDFLARE = "cloudflare:"
WIREGUARD = "wireguard:"
# The audit event of a WireGuard connection (detail.peer: the peer's name; detail.endpoint: its address). The access
# report reads it by this name (plugins/module_utils/_access_report/model.py; tests/gateway/test_audit_ingest.py
# builds a report from what this module wrote).
WIREGUARD_HANDSHAKE_EVENT = "wireguard_handshake"
_RAY_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_WG_KEY = re.compile(r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$")
# Cloudflare's log may show a request some minutes after it happened: each pull starts this long before the newest
# record held (what it reads again is skipped by its key).
CLOUDFLARE_OVERLAP = 3600
# WireGuard rekeys about every two minutes while a peer sends anything (keepalives too): a handshake less than this
# after the previous one, from the same address, continues the same connection and is not recorded again.
WIREGUARD_SESSION_GAP = 300


class IngestError(ValueError):
    pass


def _timestamp(text):
    when = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError("no time zone")
    return when.timestamp()


def _address(text):
    try:
        return str(ipaddress.ip_address(str(text or "").strip()))
    except ValueError:
        return ""


def cloudflare_items(records):
    """(items for ``append_external``, refused records as (index, reason))."""
    if not isinstance(records, list):
        raise IngestError("expected a JSON list of Access log records (the module's 'records')")
    items, refused = [], []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            refused.append((index, "not an object"))
            continue
        ray_id = record.get("ray_id")
        if not isinstance(ray_id, str) or not _RAY_ID.match(ray_id):
            refused.append((index, "no usable ray_id"))
            continue
        try:
            when = _timestamp(record.get("created_at"))
        except (TypeError, ValueError):
            refused.append((index, "created_at %r is not an ISO 8601 time with a zone" % record.get("created_at")))
            continue
        allowed = record.get("allowed")
        items.append({
            "source_key": CLOUDFLARE + ray_id,
            "time": when,
            "event": "cloudflare_login" if allowed else "cloudflare_login_denied",
            "username": str(record.get("user_email") or "").lower(),
            "ip": _address(record.get("ip_address")),
            "detail": {
                "source": "cloudflare", "ray_id": ray_id, "allowed": bool(allowed),
                "action": str(record.get("action") or ""), "app_domain": str(record.get("app_domain") or ""),
                "app_uid": str(record.get("app_uid") or ""), "connection": str(record.get("connection") or ""),
                "created_at": str(record.get("created_at")),
            },
        })
    return items, refused


def split_looks(text):
    """One look (``wg show`` sections) or several, each after a ``[look]`` line (a spool from a WireGuard server
    without the gateway), in the order they were taken."""
    if not any(line.strip() == "[look]" for line in text.splitlines()):
        return [text]
    looks, current = [], None
    for line in text.splitlines():
        if line.strip() == "[look]":
            current = []
            looks.append(current)
        elif current is not None:
            current.append(line)
        elif line.strip():
            raise IngestError("text before the first [look]")
    return ["\n".join(look) for look in looks]


def parse_wireguard(text):
    """The sections ``[latest-handshakes]``, ``[endpoints]`` (``wg show`` output) and ``[peers]`` (the peer list's
    JSON) -> {public key: {"handshake": epoch seconds, "endpoint": "host:port" or "", "name", "owner"}}."""
    sections, current = {}, None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped in ("[latest-handshakes]", "[endpoints]", "[peers]"):
            current = stripped[1:-1]
            sections[current] = []
            continue
        if current is None:
            if stripped:
                raise IngestError("text before the first section: expected [latest-handshakes], [endpoints], [peers]")
            continue
        sections[current].append(line)
    peers = {}
    for line in sections.get("latest-handshakes", []):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not _WG_KEY.match(fields[0]) or not fields[1].strip().isdigit():
            raise IngestError("not a 'wg show <interface> latest-handshakes' line: %r" % line[:60])
        peers[fields[0]] = {"handshake": int(fields[1]), "endpoint": "", "name": "", "owner": ""}
    for line in sections.get("endpoints", []):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not _WG_KEY.match(fields[0]):
            raise IngestError("not a 'wg show <interface> endpoints' line: %r" % line[:60])
        if fields[0] in peers and fields[1].strip() != "(none)":
            peers[fields[0]]["endpoint"] = fields[1].strip()
    listed = "\n".join(sections.get("peers", [])).strip()
    if listed:
        try:
            records = json.loads(listed)
        except ValueError as error:
            raise IngestError("the [peers] section is not the peer list's JSON: %s" % error) from None
        for record in records if isinstance(records, list) else []:
            key = isinstance(record, dict) and record.get("public_key")
            if key in peers:
                peers[key].update(name=str(record.get("name") or ""), owner=str(record.get("owner") or ""))
    return peers


def endpoint_address(endpoint):
    """The address of ``1.2.3.4:51820`` or ``[2001:db8::1]:51820``."""
    host = endpoint.rsplit(":", 1)[0] if endpoint else ""
    return _address(host.strip("[]"))


def wireguard_items(peers, seen, interface):
    """(items for ``append_external``, the new {public key: (handshake, endpoint)} to remember).

    A handshake is recorded when it starts a connection: the peer's first, one more than WIREGUARD_SESSION_GAP
    seconds after the previous handshake seen, or one from another address. The rekeys in between are not."""
    items, remember = [], {}
    for key, peer in sorted(peers.items()):
        handshake, endpoint = peer["handshake"], peer["endpoint"]
        if handshake <= 0:
            continue  # never connected
        previous = seen.get(key)
        if previous is not None and handshake <= previous[0]:
            continue  # nothing new since the last look
        remember[key] = (handshake, endpoint)
        if previous is not None and handshake - previous[0] <= WIREGUARD_SESSION_GAP and endpoint == previous[1]:
            continue
        items.append({
            "source_key": "%s%s:%d" % (WIREGUARD, key, handshake),
            "time": float(handshake),
            "event": WIREGUARD_HANDSHAKE_EVENT,
            "username": peer["name"],
            "ip": endpoint_address(endpoint),
            "detail": {"source": "wireguard", "interface": interface, "peer": peer["name"], "owner": peer["owner"],
                       "public_key": key, "endpoint": endpoint,
                       "reason": "first" if previous is None else (
                           "new address" if endpoint != previous[1] else "after a pause")},
        })
    items.sort(key=lambda item: (item["time"], item["source_key"]))  # the chain follows the order they happened
    return items, remember
