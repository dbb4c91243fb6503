"""Purpose justification and approvals (temporary authentication), in both modes.

A justification is stored with the session for one policy. An approval request waits for the policy's approver
groups (each needs ``approvals_needed`` approvals from its emails; one deny ends it; nobody approves their own);
an approved request grants the session ``approvals.grant_seconds`` of access.
"""

import re
import time

from . import pages, web

_REQUEST_ID = re.compile(r"\A[1-9][0-9]{0,17}\Z")


class Approvals:
    def __init__(self, cfg, store, ui, identities, policies):
        self.cfg = cfg
        self.store = store
        self.ui = ui
        self.identities = identities
        self.policies = policies

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

    def _expire_requests(self):
        for row in self.store.expire_approval_requests(time.time()):
            self.store.audit("approval_expired", username=row["username"], policy=row["policy"],
                             request_id=row["id"])

    def request_page(self, request, nonce):
        """The requester's page: ask for approval, then wait for it."""
        _source, name, policy_obj, next_path = self._policy_request(request, "approval")
        session, subject, _identity = self.identities.signed_in(request)
        if subject is None:
            return self.ui.need_login(request, nonce)
        if session is None:
            return web.redirect(self.ui.url("justify", next_path, policy=name))
        self._expire_requests()
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
                    next_path.split("?", 1)[0], self.cfg["approvals"]["request_ttl_seconds"])
                self.store.audit("approval_requested", username=subject.username or subject.email, ip=ip,
                                 method="POST", path=next_path, policy=name, request_id=request_id,
                                 reason=reason)
            return web.redirect(self.ui.url("approval", next_path, policy=name))
        if request.method != "GET":
            raise web.HttpError(405)
        if latest is not None and latest["status"] == "pending":
            body = pages.message("Your request #%d is waiting for approval. This page refreshes by itself; an approver"
                                 " opens %s%s/approvals to decide." % (latest["id"], self.ui.origin, self.ui.prefix))
            return 200, self.ui.page("Waiting for approval", body, nonce, refresh=15), []
        note = ""
        if latest is not None:
            note = pages.message("Your last request was %s." % latest["status"])
        csrf, headers = self.ui.csrf.issue(request, "approval")
        body = (note + "<p>Access to this part of OSCAR needs approval from: %s.</p>" % pages.esc(", ".join(
            g["name"] or ", ".join(g["emails"]) for g in policy_obj["approval"]["groups"]))
            + '<form method="post" action="%s/approval">' % self.ui.prefix + pages.hidden("csrf", csrf)
            + pages.hidden("policy", name) + pages.hidden("next", next_path)
            + '<button type="submit">Request access</button></form>')
        return 200, self.ui.page("Approval needed", body, nonce), headers

    @staticmethod
    def _approver_groups(policy_obj, email):
        return [g for g in policy_obj["approval"]["groups"] if email and email in g["emails"]]

    def approvers_page(self, request, nonce):
        """The approvers' page: pending requests they may decide, never their own."""
        _session, subject, _identity = self.identities.signed_in(request)
        if subject is None:
            return self.ui.need_login(request, nonce)
        self._expire_requests()
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
            if decision not in ("approve", "deny") or row is None or policy_obj is None:
                message = "That request does not exist."
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
        rows = self.store.pending_approval_requests(time.time())
        csrf, headers = self.ui.csrf.issue(request, "approvals")
        items = []
        for row in rows:
            policy_obj = self.policies.get(row["policy"])
            if policy_obj is None or not self._approver_groups(policy_obj, email):
                continue
            if row["username"] == me or (email and row["email"] == email):
                continue
            buttons = "".join(
                '<form class="inline" method="post" action="%s/approvals">%s%s%s'
                '<button type="submit" class="%s">%s</button></form>'
                % (self.ui.prefix, pages.hidden("csrf", csrf), pages.hidden("request_id", str(row["id"])),
                   pages.hidden("decision", d), "danger" if d == "deny" else "", label)
                for d, label in (("approve", "Approve"), ("deny", "Deny")))
            items.append("<tr><td>#%d</td><td>%s<br><span class=\"muted\">%s</span></td><td>%s</td><td>%s</td></tr>"
                         % (row["id"], pages.esc(row["username"]), pages.esc(row["policy"]),
                            pages.esc(row["reason"]), buttons))
        body = pages.message(message) if message else ""
        if items:
            body += ("<table><tr><th>#</th><th>Who</th><th>Purpose</th><th></th></tr>%s</table>" % "".join(items))
        else:
            body += "<p>No requests are waiting for you.</p>"
        return 200, self.ui.page("Access requests", body, nonce), headers

    def _vote(self, row, policy_obj, me, email, decision, ip, path):
        now = time.time()
        if not self.store.add_approval_vote(row["id"], me, email, decision, now):
            return "You already decided on this request."
        self.store.audit("approval_vote", username=me, ip=ip, method="POST", path=path, policy=row["policy"],
                         request_id=row["id"], decision=decision, requester=row["username"])
        votes = self.store.approval_votes(row["id"])
        if any(v["decision"] == "deny" for v in votes):
            if self.store.decide_approval_request(row["id"], "denied", now):
                self.store.audit("approval_denied", username=row["username"], policy=row["policy"],
                                 request_id=row["id"], by=me)
            return "Request #%d denied." % row["id"]
        approvals = set(v["approver_email"] for v in votes if v["decision"] == "approve")
        approvals.discard(row["email"])
        if all(len(approvals & set(g["emails"])) >= g["approvals_needed"] for g in policy_obj["approval"]["groups"]):
            grant = now + self.cfg["approvals"]["grant_seconds"]
            if self.store.decide_approval_request(row["id"], "approved", now, grant):
                self.store.audit("approval_granted", username=row["username"], policy=row["policy"],
                                 request_id=row["id"], by=sorted(approvals), until=grant)
            return "Request #%d approved." % row["id"]
        return "Your approval of request #%d is recorded; more approvals are needed." % row["id"]
