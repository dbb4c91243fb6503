"""Cloudflare mode on the Debian 13 front door (gateway-trixie), through the nginx role's real configuration.

prepare.yml made an RSA key pair in the container and serves its public half as the team's JWK set on the container's
loopback (the double of https://<team>.cloudflareaccess.com/cdn-cgi/access/certs); the gateway fetches it there.
Here Access tokens are minted with PyJWT and that private key (or another, for the forgery), and sent from the client
container to nginx as cloudflared would send them: in the Cf-Access-Jwt-Assertion header. The decision cache is on
(molecule.yml): nginx 1.26 keys it on every assertion line, so a second assertion never rides on a cached allow.
"""

import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from test_gateway import BASE, CLIENT, NAME, records, run

FRONT = "gateway-trixie"
ISSUER = "https://molecule.cloudflareaccess.com"
AUD = "4714c1358e65fe4b408ad6d432a5f878f08194bdb6752d2ef32e6d9fe4ed23df"
KID = "molecule-kid-1"
XHR = [("X-Requested-With", "XMLHttpRequest"), ("Sec-Fetch-Mode", "cors"), ("Sec-Fetch-Dest", "empty")]


@pytest.fixture(scope="module")
def signing_key():
    """The private half of the key pair whose public half the certs endpoint double serves."""
    return run(FRONT, "cat /etc/molecule-jwt/signing.pem").stdout.encode()


@pytest.fixture(scope="module")
def other_key():
    """A key pair the team never published: what a forger has."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


@pytest.fixture(scope="module")
def ca_file():
    path = "/tmp/ca-%s.crt" % FRONT
    run(CLIENT, "cat > %s" % path, stdin=run(FRONT, "cat /etc/oscar-remote-access/ca/ca.crt").stdout)
    return path


def token(key, **overrides):
    now = int(time.time())
    claims = {"aud": [AUD], "email": "drsmith@clinic.test", "exp": now + 600, "iat": now - 5, "nbf": now - 5,
              "iss": ISSUER, "type": "app", "sub": "7335d417-61da-459d-899c-0a01c76a2f94", "country": "CA"}
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})


def status_of(ca_file, path, headers=()):
    """The status nginx answers the client container with; one podman exec per request."""
    args = ["curl", "-s", "--path-as-is", "--max-time", "30", "--cacert", ca_file,
            "--connect-to", "%s:443:%s:443" % (NAME, FRONT), "-o", "/dev/null", "-w", "%{http_code}"]
    for name, value in headers:
        args += ["-H", "%s: %s" % (name, value) if value else "%s;" % name]
    args.append(BASE + path)
    return int(run(CLIENT, " ".join("'" + a.replace("'", "'\\''") + "'" for a in args)).stdout or 0)


def test_a_valid_access_token_reaches_oscar_with_its_identity(signing_key, ca_file):
    mark = uuid.uuid4().hex[:12]
    assert status_of(ca_file, "/oscar/demographic/search.jsp?m=" + mark,
                     [("Cf-Access-Jwt-Assertion", token(signing_key))]) == 200
    seen = [r for r in records(FRONT) if mark in json.dumps(r)]
    assert seen, "the request did not reach the OSCAR stand-in"
    assert seen[-1]["headers"]["Remote-Email"] == "drsmith@clinic.test"
    assert seen[-1]["headers"]["Remote-User"] == "drsmith"


def test_no_token_and_bad_tokens_are_refused_and_reach_nothing(signing_key, other_key, ca_file):
    now = int(time.time())
    mark = uuid.uuid4().hex[:12]
    bad = {
        "none": None,
        "expired": token(signing_key, exp=now - 300, iat=now - 900, nbf=now - 900),
        "wrong audience": token(signing_key, aud=["0" * 64]),
        "wrong issuer": token(signing_key, iss="https://other.cloudflareaccess.com"),
        "wrong key": token(other_key),
    }
    for what, value in bad.items():
        headers = [("Cf-Access-Jwt-Assertion", value)] if value else []
        assert status_of(ca_file, "/oscar/index.jsp?m=%s&t=%s" % (mark, what.replace(" ", "-")), headers) == 403, what
    assert not [r for r in records(FRONT) if mark in json.dumps(r)]


@pytest.mark.parametrize("valid_first", [True, False], ids=["valid-then-other", "other-then-valid"])
def test_two_assertion_headers_are_refused_with_the_decision_cache_on(signing_key, ca_file, valid_first):
    mark = uuid.uuid4().hex[:12]
    path = "/oscar/demographic/list.json?m=" + mark
    good = token(signing_key)
    for _ in range(2):  # background requests: the second allow may come from nginx's cache
        assert status_of(ca_file, path, [*XHR, ("Cf-Access-Jwt-Assertion", good)]) == 200
    # nginx 1.26 caches allows for Access tokens (1.22 never does): the refusals below are with entries in the cache.
    assert run(FRONT, "find /var/cache/nginx/oscar-auth -type f | wc -l").stdout.strip() != "0"
    before = len([r for r in records(FRONT) if mark in json.dumps(r)])
    for other in ("junk", token(signing_key, email="reception@clinic.test")):
        pair = [good, other] if valid_first else [other, good]
        assert status_of(ca_file, path, XHR + [("Cf-Access-Jwt-Assertion", value) for value in pair]) == 403, other
    assert len([r for r in records(FRONT) if mark in json.dumps(r)]) == before
