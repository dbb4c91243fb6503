"""A real SMTP server on loopback for the approval-mail tests: aiosmtpd (asyncio), the gateway's smtplib client talks
to it as to a clinic's relay. Optional STARTTLS (a certificate made here), SMTP AUTH, and recipients it refuses
permanently (550)."""

import datetime
import email
import email.policy
import ipaddress
import socket
import ssl
import threading
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Handler:
    def __init__(self, receiver):
        self.receiver = receiver

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.receiver.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.receiver.arrived:
            self.receiver.messages.append((list(envelope.rcpt_tos), message, session.ssl is not None))
            self.receiver.arrived.notify_all()
        return "250 Message accepted"


class Receiver:
    """``messages``: (envelope recipients, parsed message, whether it came over TLS)."""

    def __init__(self, tls_dir=None, login=None, refuse=(), port=None, hostname="127.0.0.1"):
        self.messages = []
        self.arrived = threading.Condition()
        self.refuse = set(refuse)
        self.port = port or free_port()
        self.ca_file = None
        kwargs = {}
        if tls_dir is not None:
            cert, key = _certificate(Path(tls_dir))
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            kwargs.update(tls_context=context, require_starttls=True)
            self.ca_file = str(cert)
        if login is not None:
            def authenticator(server, session, envelope, mechanism, auth_data):
                ok = (auth_data.login.decode(), auth_data.password.decode()) == login
                return AuthResult(success=ok)
            kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=tls_dir is not None)
        self.controller = Controller(_Handler(self), hostname=hostname, port=self.port, **kwargs)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def wait_for(self, count, timeout=20.0):
        """Block until ``count`` messages have arrived (no fixed sleep); returns them."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError("%d message(s) arrived, expected %d" % (len(self.messages), count))
            return list(self.messages)

    def wait_until(self, predicate, timeout=20.0):
        """Block until some arrived (recipients, message) satisfies ``predicate``; returns that message."""
        def found():
            return next((m for rcpt, m, _tls in self.messages if predicate(rcpt, m)), None)
        with self.arrived:
            if not self.arrived.wait_for(lambda: found() is not None, timeout):
                raise AssertionError("no such message among %d: %s" % (
                    len(self.messages), [(r, m["Subject"]) for r, m, _t in self.messages]))
            return found()

    def to(self, address):
        return [m for rcpt, m, _tls in self.messages if address in rcpt]


def _certificate(directory):
    """A self-signed certificate for 127.0.0.1 (its own CA: the gateway's mail.ca_file trusts it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "relay.crt", directory / "relay.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
