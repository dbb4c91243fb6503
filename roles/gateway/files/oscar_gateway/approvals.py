"""Purpose justification and approvals (temporary authentication), in both modes.

A justification is stored with the session for one policy. An approval request waits for the policy's approver
groups (each needs ``approvals_needed`` approvals from its emails; one deny ends it; nobody approves their own);
an approved request grants the session access for the policy's ``session_duration`` (else
``approvals.grant_seconds``), never longer than ``approvals.max_grant_seconds``; an approver may revoke it sooner.
With a mail relay configured the approvers are emailed a link to the approvals page, and the requester the decision
(``notices.py`` writes the text, ``outbox.py`` sends it in the background). Requests nobody decides expire.
"""

import re
import time

from . import _shared, notices, pages, web

_ap = _shared.access_policy_module()

_REQUEST_ID = re.compile(r"\A[1-9][0-9]{0,17}\Z")


class Approvals:
    def __init__(self, cfg, store, ui, identities, policies, outbox):
        self.cfg = cfg
        self.store = store
        self.ui = ui
        self.identities = identities
        self.policies = policies
        self.outbox = outbox
        self.clinic = cfg["clinic_name"]

    def grant_seconds(self, policy_obj):
        """How long an approval under this policy lets the requester in."""
        approvals = self.cfg["approvals"]
        seconds = _ap.duration_seconds(policy_obj["session_duration"]) if policy_obj.get("session_duration") else 0
        return min(seconds or approvals["grant_seconds"], approvals["max_grant_seconds"])

    def _approvers_link(self, request_id):
        return "%s%s/approvals?request=%d" % (self.ui.origin, self.ui.prefix, request_id)

    def _tell_requester(self, row, status, by="", grant_expires=None):
        """Mail the requester the decision (when mail is on and the account has an address)."""
        link = self.ui.url("approval", row["path"] or self.cfg["default_path"], policy=row["policy"])
        subject, body = notices.decision(self.clinic, row, status, by, link, grant_expires)
        self.outbox.queue("approval_" + status, row["id"], [row["email"]], subject, body)

    def _display_name(self, username):
        user = self.store.user(username)
        return (user["display_name"] if user is not None else "") or username

    def _policy_request(self, request, key):
        """(form or query, policy name, the policy, safe return path) of a justification or approval page; 400 when
        the policy is unknown or does not ask for ``key``."""
        source = request.form() if request.method == "POST" else {
            "policy": request.arg("policy"), "next": request.arg("next")}
        name = source.get("policy") or ""
        policy_obj = self.policies.get(name)
        if policy_obj is None or not policy_obj[key]["required"]:
            raise web.HttpError(400)
        return source, name, policy_obj, self.ui.next_path(source.get("next"))

    # -- justification ------------------------------------------------------------------------------

    def justify(self, request, nonce):
        source, name, policy_obj, next_path = self._policy_request(request, "purpose_justification")
        session, subject, identity = self.identities.signed_in(request)
        if subject is None:
            return self.ui.need_login(request, nonce)
        prompt = policy_obj["purpose_justification"]["prompt"]
        error = ""
        if request.method == "POST":
            if not self.ui.csrf.check(request, "justify"):
                return self.ui.csrf_failed(request, nonce, "justify")
            reason = " ".join((source.get("reason") or "").split())
            if 10 <= len(reason) <= 1000:
                headers = []
                if session is None:  # Cloudflare mode: a gateway session holds the justification
                    session_hash, cookie = self.identities.create_session(identity.email, False, identity.amr,
                                                                          request.client_ip() or "")
                    headers.append(cookie)
                else:
                    session_hash = session.id_hash
                self.store.save_justification(session_hash, name, reason)
                self.store.audit("justification", username=subject.username or subject.email,
                                 ip=request.client_ip() or "", method="POST", path=next_path, policy=name,
                                 text=reason)
                return web.redirect(self.ui.origin + next_path, headers)
            error = "Please describe the purpose in 10 to 1000 characters."
        elif request.method != "GET":
            raise web.HttpError(405)
        csrf, headers = self.ui.csrf.issue(request, "justify")
        return 200, self.ui.page("Purpose of access", pages.justify_form(
            self.ui.prefix + "/justify", csrf, next_path, name, prompt, error), nonce), headers

    # -- approvals ----------------------------------------------------------------------------------

    def expire_requests(self):
        """Expire the requests nobody decided in time and tell their requesters (the pages and the outbox worker)."""
        for row in self.store.expire_approval_requests(time.time()):
            self.store.audit("approval_expired", username=row["username"], policy=row["policy"],
                             request_id=row["id"])
            self._tell_requester(row, "expired")

    def request_page(self, request, nonce):
        """The requester's page: ask for approval, then wait for it."""
        _source, name, policy_obj, next_path = self._policy_request(request, "approval")
        session, subject, _identity = self.identities.signed_in(request)
        if subject is None:
            return self.ui.need_login(request, nonce)
        if session is None:
            return web.redirect(self.ui.url("justify", next_path, policy=name))
        self.expire_requests()
        now = time.time()
        ip = request.client_ip() or ""
        latest = self.store.latest_approval_request(session.id_hash, name)
        if latest is not None and latest["status"] == "approved" and latest["grant_expires"] > now:
            return web.redirect(self.ui.origin + next_path)
        if request.method == "POST":
            if not self.ui.csrf.check(request, "approval"):
                return self.ui.csrf_failed(request, nonce, "approval")
            if latest is None or latest["status"] != "pending":
                reason = self.store.justification(session.id_hash, name) or ""
                request_id = self.store.add_approval_request(
                    subject.username or subject.email, subject.email, session.id_hash, name, reason,
                    next_path.split("?", 1)[0], self.cfg["approvals"]["request_ttl_seconds"], ip)
                self.store.audit("approval_requested", username=subject.username or subject.email, ip=ip,
                                 method="POST", path=next_path, policy=name, request_id=request_id,
                                 reason=reason)
                self._ask_approvers(self.store.approval_request(request_id), policy_obj,
                                    subject.display_name or self._display_name(subject.username or subject.email))
            return web.redirect(self.ui.url("approval", next_path, policy=name))
        if request.method != "GET":
            raise web.HttpError(405)
        if latest is not None and latest["status"] == "pending":
            told = ("The approvers have been emailed." if self.outbox.enabled else
                    "An approver opens %s%s/approvals to decide." % (self.ui.origin, self.ui.prefix))
            body = pages.message("Your request #%d is waiting for approval. %s This page refreshes by itself and "
                                 "moves on when it is approved; the request expires at %s if nobody decides."
                                 % (latest["id"], told, notices.when(latest["expires"])))
            return 200, self.ui.page("Waiting for approval", body, nonce,
                                     refresh=self.cfg["approvals"]["waiting_refresh_seconds"]), []
        note = ""
        if latest is not None:
            note = pages.message(self._outcome(latest))
        csrf, headers = self.ui.csrf.issue(request, "approval")
        body = (note + "<p>Access to this part of OSCAR needs approval from: %s.</p>" % pages.esc(", ".join(
            g["name"] or ", ".join(g["emails"]) for g in policy_obj["approval"]["groups"]))
            + '<form method="post" action="%s/approval">' % self.ui.prefix + pages.hidden("csrf", csrf)
            + pages.hidden("policy", name) + pages.hidden("next", next_path)
            + '<button type="submit">Request access</button></form>')
        return 200, self.ui.page("Approval needed", body, nonce), headers

    def _outcome(self, row):
        """What the requester's page says of their last request."""
        by = self._display_name(row["decided_by"]) if row["decided_by"] else "an approver"
        return {
            "approved": "Your request #%d was approved by %s; that access has run out." % (row["id"], by),
            "denied": "Your request #%d was denied by %s." % (row["id"], by),
            "expired": "Your request #%d expired: nobody decided in time." % row["id"],
            "revoked": "Your access from request #%d was revoked by %s." % (row["id"], by),
        }.get(row["status"], "Your last request was %s." % row["status"])

    def _ask_approvers(self, row, policy_obj, requester_name):
        """Mail every approver of the policy (not the requester) a link to the approvals page."""
        recipients = [e for g in policy_obj["approval"]["groups"] for e in g["emails"] if e != row["email"]]
        subject, body = notices.approval_request(self.clinic, row, requester_name, self._approvers_link(row["id"]),
                                                 self.grant_seconds(policy_obj))
        self.outbox.queue("approval_request", row["id"], recipients, subject, body)

    @staticmethod
    def _approver_groups(policy_obj, email):
        return [g for g in policy_obj["approval"]["groups"] if email and email in g["emails"]]

    def approvers_page(self, request, nonce):
        """The approvers' page: pending requests they may decide, never their own, and the access they granted."""
        _session, subject, _identity = self.identities.signed_in(request)
        if subject is None:
            wanted = request.arg("request")
            back = request.path + ("?request=" + wanted if _REQUEST_ID.match(wanted or "") else "")
            return self.ui.need_login(request, nonce, back=back)
        self.expire_requests()
        email = subject.email
        me = subject.username or subject.email
        ip = request.client_ip() or ""
        message = ""
        if request.method == "POST":
            if not self.ui.csrf.check(request, "approvals"):
                return self.ui.csrf_failed(request, nonce, "approvals")
            form = request.form()
            decision = form.get("decision")
            # SQLite's INTEGER holds 18 digits safely; anything else is not an id this page ever wrote.
            if not _REQUEST_ID.match(form.get("request_id") or ""):
                raise web.HttpError(400)
            row = self.store.approval_request(int(form["request_id"]))
            policy_obj = self.policies.get(row["policy"]) if row else None
            if decision not in ("approve", "deny", "revoke") or row is None or policy_obj is None:
                message = "That request does not exist."
            elif decision == "revoke":
                message = self._revoke(row, policy_obj, me, email, ip, request.path)
            elif row["username"] == me or (email and row["email"] == email):
                self.store.audit("approval_self_refused", username=me, ip=ip, method="POST", path=request.path,
                                 policy=row["policy"], request_id=row["id"])
                message = "You cannot approve your own request."
            elif not self._approver_groups(policy_obj, email):
                self.store.audit("approval_not_approver", username=me, ip=ip, method="POST", path=request.path,
                                 policy=row["policy"], request_id=row["id"])
                message = "You are not an approver for this request."
            elif row["status"] != "pending" or row["expires"] < time.time():
                message = "That request is no longer pending."
            else:
                message = self._vote(row, policy_obj, me, email, decision, ip, request.path)
        now = time.time()
        csrf, headers = self.ui.csrf.issue(request, "approvals")

        def mine(row):
            policy_obj = self.policies.get(row["policy"])
            return policy_obj is not None and self._approver_groups(policy_obj, email) and not (
                row["username"] == me or (email and row["email"] == email))

        def buttons(row, choices):
            return "".join(
                '<form class="inline" method="post" action="%s/approvals">%s%s%s'
                '<button type="submit" class="%s">%s</button></form>'
                % (self.ui.prefix, pages.hidden("csrf", csrf), pages.hidden("request_id", str(row["id"])),
                   pages.hidden("decision", d), "danger" if d != "approve" else "", label)
                for d, label in choices)

        def who(row):
            return '%s (%s)<br><span class="muted">%s, from %s</span>' % (
                pages.esc(self._display_name(row["username"])), pages.esc(row["username"]), pages.esc(row["policy"]),
                pages.esc(row["ip"] or "unknown address"))

        pending = ['<tr id="request-%d"><td>#%d</td><td>%s</td><td>%s<br><span class="muted">expires %s</span></td>'
                   "<td>%s</td></tr>" % (row["id"], row["id"], who(row), pages.esc(row["reason"]),
                                         pages.esc(notices.when(row["expires"])),
                                         buttons(row, (("approve", "Approve"), ("deny", "Deny"))))
                   for row in self.store.pending_approval_requests(now) if mine(row)]
        granted = ['<tr id="grant-%d"><td>#%d</td><td>%s</td><td>until %s</td><td>%s</td></tr>'
                   % (row["id"], row["id"], who(row), pages.esc(notices.when(row["grant_expires"])),
                      buttons(row, (("revoke", "Revoke"),)))
                   for row in self.store.live_approval_grants(now) if mine(row)]
        body = pages.message(message) if message else ""
        if pending:
            body += ("<table><tr><th>#</th><th>Who</th><th>Purpose</th><th></th></tr>%s</table>" % "".join(pending))
        else:
            body += "<p>No requests are waiting for you.</p>"
        if granted:
            body += ("<h2>Access granted now</h2><table><tr><th>#</th><th>Who</th><th>Access</th><th></th></tr>"
                     "%s</table>" % "".join(granted))
        return 200, self.ui.page("Access requests", body, nonce), headers

    def _revoke(self, row, policy_obj, me, email, ip, path):
        if not self._approver_groups(policy_obj, email) or row["username"] == me or (email and row["email"] == email):
            self.store.audit("approval_not_approver", username=me, ip=ip, method="POST", path=path,
                             policy=row["policy"], request_id=row["id"], decision="revoke")
            return "You are not an approver for this request."
        if not self.store.revoke_approval_grant(row["id"], time.time(), me):
            return "That access is not granted now."
        self.store.audit("approval_revoked", username=row["username"], ip=ip, method="POST", path=path,
                         policy=row["policy"], request_id=row["id"], by=me)
        self._tell_requester(row, "revoked", self._display_name(me))
        return "Access from request #%d revoked." % row["id"]

    def _vote(self, row, policy_obj, me, email, decision, ip, path):
        now = time.time()
        if not self.store.add_approval_vote(row["id"], me, email, decision, now):
            return "You already decided on this request."
        self.store.audit("approval_vote", username=me, ip=ip, method="POST", path=path, policy=row["policy"],
                         request_id=row["id"], decision=decision, requester=row["username"])
        votes = self.store.approval_votes(row["id"])
        if any(v["decision"] == "deny" for v in votes):
            if self.store.decide_approval_request(row["id"], "denied", now, by=me):
                self.store.audit("approval_denied", username=row["username"], policy=row["policy"],
                                 request_id=row["id"], by=me)
                self._tell_requester(row, "denied", self._display_name(me))
            return "Request #%d denied." % row["id"]
        approvals = set(v["approver_email"] for v in votes if v["decision"] == "approve")
        approvals.discard(row["email"])
        if all(len(approvals & set(g["emails"])) >= g["approvals_needed"] for g in policy_obj["approval"]["groups"]):
            grant = now + self.grant_seconds(policy_obj)
            if self.store.decide_approval_request(row["id"], "approved", now, grant, by=me):
                self.store.audit("approval_granted", username=row["username"], policy=row["policy"],
                                 request_id=row["id"], by=sorted(approvals), until=grant)
                self._tell_requester(row, "approved", self._display_name(me), grant)
            return "Request #%d approved." % row["id"]
        return "Your approval of request #%d is recorded; more approvals are needed." % row["id"]
