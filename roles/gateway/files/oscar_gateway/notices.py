"""The text of the approval mail (plain text; ``outbox.py`` sends it).

The approvers' mail says who asks, under which policy, why, from which address and until when the request waits,
with a link that only opens the approvals page: the approver signs in there with MFA and decides. No link in any
message approves or denies anything, so a mail client that follows links (or whoever reads the mailbox) cannot.
"""

import datetime


def when(epoch):
    """A time as the clinic reads it in mail: UTC, to the minute (the host's zone is not the reader's)."""
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds):
    seconds = int(seconds)
    if seconds % 3600 == 0:
        return "%d hour%s" % (seconds // 3600, "" if seconds == 3600 else "s")
    return "%d minutes" % (seconds // 60)


def approval_request(clinic, row, requester_name, link, grant_seconds):
    subject = "[%s] Access request #%d: %s asks for %s" % (clinic, row["id"], requester_name, row["policy"])
    body = "\n".join([
        "%s (user %s%s) asks for access to %s's OSCAR under the policy \"%s\"." % (
            requester_name, row["username"], ", " + row["email"] if row["email"] else "", clinic, row["policy"]),
        "",
        "Purpose given:",
        "    " + (row["reason"] or "(none)"),
        "",
        "From address:  %s" % (row["ip"] or "unknown"),
        "Asked at:      %s" % when(row["created"]),
        "Waits until:   %s (then it expires if nobody decides)" % when(row["expires"]),
        "If approved:   access for %s" % duration(grant_seconds),
        "",
        "To decide, open the approvals page, sign in with your password and authenticator code, and approve or",
        "deny there:",
        "",
        "    " + link,
        "",
        "This message cannot approve or deny anything by itself. If you did not expect it, deny the request on",
        "that page or tell the clinic's privacy officer.",
        "",
    ])
    return subject, body


def decision(clinic, row, status, by, link, grant_expires=None):
    """The requester's mail: approved (until when), denied, expired (nobody decided) or revoked."""
    what = {
        "approved": "was approved by %s. You have access until %s." % (by, when(grant_expires or 0)),
        "denied": "was denied by %s." % by,
        "expired": "expired: nobody decided in time. You may ask again.",
        "revoked": "was revoked by %s: your access under it has ended." % by,
    }[status]
    subject = "[%s] Your access request #%d was %s" % (clinic, row["id"], status)
    body = "\n".join([
        "Your request #%d for access under the policy \"%s\" %s" % (row["id"], row["policy"], what),
        "",
        "Asked at: %s" % when(row["created"]),
        "",
        "The page you asked from shows this too:",
        "",
        "    " + link,
        "",
    ])
    return subject, body
