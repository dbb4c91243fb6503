"""The mail the gateway owes (approvals by email): queued in SQLite by the pages, sent by a background thread.

A page only inserts a row (``queue``), so a relay that is down, slow or refusing never holds up a sign-in or a
page; the worker (``Worker``, started by ``server.py``) sends what is due through the configured SMTP relay and, on a
temporary failure, tries again later with a doubling delay (``mail.retry_seconds`` up to ``mail.retry_max_seconds``)
until ``mail.max_attempts``; a permanent refusal (an SMTP 5xx answer) or the last attempt gives the message up. Every
step is audited; ``oscar-gateway-admin outbox`` lists what is queued or failed, with the last error.

STARTTLS is required unless the relay is on loopback (``mail.starttls``; the configuration schema refuses it off for
any other relay), and a relay that does not offer it is a failure, never a fallback to plain text. The relay's
credentials come from their own file (``mail.credentials_file``, not readable by others), never from the
configuration or a command line.
"""

import email.policy
import email.utils
import smtplib
import ssl
import threading
import time
from email.message import EmailMessage

from . import config, web

# The worker looks at the outbox and the approval requests' expiry at least this often; a queued message wakes it.
POLL_SECONDS = 10.0
# Headers on one line up to RFC 5322's limit: Python folds a subject a little over 78 characters before its first word,
# which mail clients show as a leading space.
_POLICY = email.policy.SMTP.clone(max_line_length=998)
# What one failed attempt keeps of the error (it is shown by the admin command and in the audit log).
ERROR_CHARS = 300


def load_credentials(path):
    """(username, password) from the relay's credentials file: JSON, not readable by others (0600 or 0640; root owns it
    and the gateway's group reads it). None without a file."""
    if not path:
        return None
    data = config.read_private_json(path, "mail credentials file", refused=0o007, advice="use 0640 or 0600")
    if not isinstance(data, dict) or not isinstance(data.get("username"), str) or not data["username"] \
            or not isinstance(data.get("password"), str) or not data["password"]:
        raise config.ConfigError("mail credentials file %s: needs a username and a password" % path)
    return data["username"], data["password"]


def _clean_header(text):
    """One line of printable text for a header (names and policy names come from the inventory and users)."""
    return " ".join(str(text).split())[:200]


def _permanent(exc):
    """Whether an SMTP error is a permanent refusal (5xx): trying again would only repeat it."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _message in exc.recipients.values())
    code = getattr(exc, "smtp_code", None)
    return isinstance(code, int) and 500 <= code < 600 and not isinstance(exc, smtplib.SMTPAuthenticationError)


class Outbox:
    def __init__(self, cfg, store, log=web.log):
        self.mail = cfg["mail"]
        self.sender_name = cfg["clinic_name"]
        self.host = cfg["public_host"]
        self.store = store
        self.log = log
        self.enabled = bool(self.mail["relay_host"])
        self.credentials = load_credentials(self.mail["credentials_file"]) if self.enabled else None
        self.wake = threading.Event()
        self._sending = threading.Lock()

    # -- queueing (pages) -----------------------------------------------------------------------

    def queue(self, kind, request_id, recipients, subject, body):
        """Queue one message per recipient; returns the recipients queued (none when mail is not configured)."""
        if not self.enabled:
            return []
        now = time.time()
        queued = []
        for recipient in sorted(set(r for r in recipients if r)):
            mail_id = self.store.queue_mail(kind, request_id, recipient, _clean_header(subject), body, now)
            self.store.audit("mail_queued", mail_id=mail_id, kind=kind, request_id=request_id, recipient=recipient)
            queued.append(recipient)
        if queued:
            self.wake.set()
        return queued

    def health(self):
        """What the fleet's health snapshot shows: whether mail is on, how many messages are queued and given up,
        and how long the oldest queued one has waited."""
        counts, oldest = self.store.outbox_counts()
        return {"enabled": self.enabled, "queued": counts.get("queued", 0), "failed": counts.get("failed", 0),
                "sent": counts.get("sent", 0),
                "oldest_queued_seconds": int(time.time() - oldest) if oldest is not None else None}

    # -- delivery (the worker) --------------------------------------------------------------------

    def retry_delay(self, attempts):
        """Seconds before the next attempt after ``attempts`` failed ones: doubling, capped."""
        return min(self.mail["retry_max_seconds"], self.mail["retry_seconds"] * 2 ** max(0, attempts - 1))

    def message(self, row):
        msg = EmailMessage(policy=_POLICY)
        msg["From"] = email.utils.formataddr((_clean_header(self.sender_name), self.mail["from_address"]))
        msg["To"] = row["recipient"]
        msg["Subject"] = row["subject"]
        msg["Date"] = email.utils.formatdate(localtime=False)
        msg["Message-ID"] = email.utils.make_msgid("oscar-gateway-%d" % row["id"], domain=self.host)
        # Mail systems must not answer it (out-of-office replies) and clients know it is machine-made.
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(row["body"])
        return msg

    def _connect(self):
        mail = self.mail
        # The configuration accepts an IPv6 address in brackets ("[::1]", as mail servers' relay settings write it);
        # smtplib wants the bare address (it would look the brackets up as a host name and fail).
        smtp = smtplib.SMTP(mail["relay_host"].strip("[]"), mail["relay_port"], timeout=mail["timeout_seconds"],
                            local_hostname=self.host)
        try:
            smtp.ehlo()
            if mail["starttls"]:
                # Raises SMTPNotSupportedError when the relay does not offer it: never a silent plain-text session.
                context = ssl.create_default_context(cafile=mail["ca_file"] or None)
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.credentials:
                smtp.login(*self.credentials)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def deliver_due(self, now=None):
        """Send every queued message that is due, over one connection; returns (sent, failed attempts)."""
        if not self.enabled:
            return 0, 0
        with self._sending:
            rows = self.store.due_mail(time.time() if now is None else now)
            if not rows:
                return 0, 0
            sent = failed = 0
            try:
                smtp = self._connect()
            except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
                for row in rows:
                    self._failed(row, exc)
                return 0, len(rows)
            try:
                for row in rows:
                    try:
                        smtp.send_message(self.message(row), from_addr=self.mail["from_address"],
                                          to_addrs=[row["recipient"]])
                    except (OSError, smtplib.SMTPException) as exc:
                        self._failed(row, exc)
                        failed += 1
                        if isinstance(exc, (smtplib.SMTPServerDisconnected, OSError)):
                            break  # the rest of the batch waits for the next run
                        continue
                    self.store.mail_sent(row["id"], time.time())
                    self.store.audit("mail_sent", mail_id=row["id"], kind=row["kind"], request_id=row["request_id"],
                                     recipient=row["recipient"])
                    sent += 1
            finally:
                try:
                    smtp.quit()
                except (OSError, smtplib.SMTPException):
                    smtp.close()
            return sent, failed

    def _failed(self, row, exc):
        error = ("%s: %s" % (type(exc).__name__, exc))[:ERROR_CHARS]
        attempts = row["attempts"] + 1
        give_up = _permanent(exc) or attempts >= self.mail["max_attempts"]
        next_attempt = None if give_up else time.time() + self.retry_delay(attempts)
        self.store.mail_attempt_failed(row["id"], error, next_attempt)
        self.store.audit("mail_failed" if give_up else "mail_attempt_failed", mail_id=row["id"], kind=row["kind"],
                         request_id=row["request_id"], recipient=row["recipient"], attempts=attempts, error=error)
        self.log("mail #%d to %s %s after %d attempt(s): %s" % (
            row["id"], row["recipient"], "given up" if give_up else "failed", attempts, error))


class Worker(threading.Thread):
    """Sends the outbox and runs the housekeeping jobs (approval requests' expiry) in the background."""

    def __init__(self, outbox, housekeeping=(), poll_seconds=POLL_SECONDS):
        super().__init__(name="oscar-gateway-outbox", daemon=True)
        self.outbox = outbox
        self.housekeeping = list(housekeeping)
        self.poll_seconds = poll_seconds
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            self.outbox.wake.clear()
            try:
                for job in self.housekeeping:
                    job()
                self.outbox.deliver_due()
                due = self.outbox.store.next_mail_due() if self.outbox.enabled else None
            except Exception as exc:  # noqa: BLE001 - the worker must outlive one bad run; the pages do not need it
                self.outbox.log("outbox worker: %s: %s" % (type(exc).__name__, exc))
                due = None
            wait = self.poll_seconds if due is None else min(self.poll_seconds, max(0.0, due - time.time()))
            self.outbox.wake.wait(wait)

    def stop(self):
        self.stopping.set()
        self.outbox.wake.set()
