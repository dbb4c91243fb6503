"""HTML for the gateway's own pages: one small template, inline CSS under a per-response nonce."""

import html
import json

CSS = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;
background:#eef2f5;color:#1d2730;
font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{width:100%;max-width:420px;margin:24px 16px;background:#fff;border-radius:12px;
box-shadow:0 2px 14px rgba(20,40,60,.12);padding:28px 24px}
header{margin-bottom:18px}
.clinic{font-size:.85rem;letter-spacing:.04em;text-transform:uppercase;color:#4a6274;margin:0 0 4px}
h1{font-size:1.45rem;margin:0;color:#12344d}
h2{font-size:1.1rem;margin:22px 0 6px;color:#12344d}
select{width:100%;padding:12px;border:1px solid #b7c4cf;border-radius:8px;font:inherit;background:#fbfcfd}
p{margin:.5em 0}
label{display:block;font-weight:600;margin:14px 0 6px;font-size:.95rem}
input[type=text],input[type=password],input[type=email],textarea{width:100%;padding:12px;
border:1px solid #b7c4cf;border-radius:8px;font:inherit;background:#fbfcfd}
input:focus,textarea:focus{outline:3px solid #9cc3e6;border-color:#2f6ea3}
textarea{min-height:110px;resize:vertical}
button{display:block;width:100%;margin-top:20px;padding:12px;border:0;border-radius:8px;background:#1f5f8f;
color:#fff;font:inherit;font-weight:600;cursor:pointer}
button:hover{background:#174c73}
button.secondary{background:#e5ebf0;color:#12344d}
button.danger{background:#a33a2f}
.error{background:#fdecea;color:#8a1f11;border-radius:8px;padding:10px 12px;margin:12px 0}
.note{background:#eef6fb;border-radius:8px;padding:10px 12px;margin:12px 0;font-size:.95rem}
.muted{color:#5c6f7e;font-size:.85rem}
.qr{display:flex;justify-content:center;margin:12px 0}
.qr svg{width:200px;height:200px}
code,.codes{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.secret{word-break:break-all;background:#f3f5f7;padding:8px;border-radius:6px;display:block}
.codes{columns:2;column-gap:1.5em;padding-left:2.2em;margin:12px 0;font-size:.95rem}
table{width:100%;border-collapse:collapse;font-size:.9rem}
td,th{text-align:left;padding:6px 4px;border-bottom:1px solid #e1e7ec;vertical-align:top}
form.inline{display:inline}
footer{margin-top:22px;font-size:.8rem;color:#6b7d8b;text-align:center}
"""


def esc(value):
    return html.escape("" if value is None else str(value), quote=True)


# The one script of the gateway's pages (under the page's nonce): a form marked data-webauthn="create" or "get" asks
# the browser for a passkey with the options in its data-options and posts the answer (the JSON of the
# PublicKeyCredential, binary parts base64url) in its "credential" field. Without it the form posts nothing usable.
WEBAUTHN_SCRIPT = r"""
(function(){
function dec(s){s=s.replace(/-/g,'+').replace(/_/g,'/');while(s.length%4)s+='=';
return Uint8Array.from(atob(s),function(c){return c.charCodeAt(0);});}
function enc(b){b=new Uint8Array(b);var s='';for(var i=0;i<b.length;i++)s+=String.fromCharCode(b[i]);
return btoa(s).replace(/\+/g,'-').replace(/\//g,'_').replace(/=+$/,'');}
document.querySelectorAll('form[data-webauthn]').forEach(function(form){
form.addEventListener('submit',function(ev){
ev.preventDefault();
var create=form.dataset.webauthn==='create',o=JSON.parse(form.dataset.options),box=form.querySelector('.error');
o.challenge=dec(o.challenge);
if(create){o.user.id=dec(o.user.id);}
(o.excludeCredentials||o.allowCredentials||[]).forEach(function(c){c.id=dec(c.id);});
if(!window.PublicKeyCredential){box.textContent='This browser cannot use passkeys.';box.hidden=false;return;}
var asked=create?navigator.credentials.create({publicKey:o}):navigator.credentials.get({publicKey:o});
asked.then(function(c){var r=c.response,out={id:c.id,rawId:enc(c.rawId),type:c.type,clientExtensionResults:{},
response:{clientDataJSON:enc(r.clientDataJSON)}};
if(c.authenticatorAttachment){out.authenticatorAttachment=c.authenticatorAttachment;}
if(create){out.response.attestationObject=enc(r.attestationObject);}
else{out.response.authenticatorData=enc(r.authenticatorData);out.response.signature=enc(r.signature);
if(r.userHandle){out.response.userHandle=enc(r.userHandle);}}
form.querySelector('input[name=credential]').value=JSON.stringify(out);form.submit();
},function(e){box.textContent='No passkey answered ('+e.name+'). Try again, or use another way.';box.hidden=false;});
});});
})();
"""


def page(title, body, clinic_name, nonce, refresh=None):
    meta = '<meta http-equiv="refresh" content="%d">' % refresh if refresh else ""
    if "data-webauthn=" in body:
        body += '<script nonce="%s">%s</script>' % (esc(nonce), WEBAUTHN_SCRIPT)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta name=\"robots\" content=\"noindex, nofollow\">%s"
        "<title>%s - %s</title><style nonce=\"%s\">%s</style></head>"
        "<body><main><header><p class=\"clinic\">%s</p><h1>%s</h1></header>%s"
        "<footer>Secure access to %s's OSCAR EMR. Every sign-in is recorded.</footer></main></body></html>"
        % (meta, esc(title), esc(clinic_name), esc(nonce), CSS, esc(clinic_name), esc(title), body, esc(clinic_name))
    )


def hidden(name, value):
    return '<input type="hidden" name="%s" value="%s">' % (esc(name), esc(value))


def error_box(message):
    return '<p class="error" role="alert">%s</p>' % esc(message) if message else ""


def login_form(action, csrf, next_path, error="", username="", passkey_url=""):
    return (
        error_box(error)
        + '<form method="post" action="%s" autocomplete="on">' % esc(action)
        + hidden("csrf", csrf) + hidden("next", next_path)
        + '<label for="username">Username</label>'
        + '<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none"'
        + ' spellcheck="false" required maxlength="64" value="%s" autofocus>' % esc(username)
        + '<label for="password">Password</label>'
        + '<input id="password" name="password" type="password" autocomplete="current-password" required'
        + ' maxlength="1024">'
        + '<button type="submit">Sign in</button></form>'
        + '<p class="muted"><a href="%s">Sign in with a passkey</a></p>' % esc(passkey_url)
    )


def passkey_form(action, csrf, next_path, options, mode, button, fields=""):
    """A form the page script answers with a passkey (``mode``: create or get); see WEBAUTHN_SCRIPT."""
    return (
        '<form method="post" action="%s" data-webauthn="%s" data-options="%s">'
        % (esc(action), esc(mode), esc(json.dumps(options, separators=(",", ":"))))
        + hidden("csrf", csrf) + hidden("next", next_path) + hidden("credential", "") + fields
        + '<p class="error" role="alert" hidden></p>'
        + '<button type="submit" id="passkey-button">%s</button></form>' % esc(button)
    )


def mfa_form(action, csrf, next_path, error="", passkey_options=None, totp=True):
    """The second step: a passkey (when the account has one) and, unless it has none, the TOTP code."""
    body = error_box(error)
    if passkey_options is not None:
        body += ("<p>Use your passkey or security key.</p>"
                 + passkey_form(action, csrf, next_path, passkey_options, "get", "Use passkey"))
        if not totp:
            return body + '<p class="muted">Lost your key? Enter one of your recovery codes instead.</p>' + (
                '<form method="post" action="%s">' % esc(action) + hidden("csrf", csrf) + hidden("next", next_path)
                + '<label for="code">Recovery code</label><input id="code" name="code" type="text" required'
                + ' maxlength="16"><button type="submit" class="secondary">Verify</button></form>')
        body += '<p class="muted">Or:</p>'
    return (
        body
        + "<p>Enter the 6-digit code from your authenticator app.</p>"
        + '<form method="post" action="%s">' % esc(action)
        + hidden("csrf", csrf) + hidden("next", next_path)
        + '<label for="code">Authentication code</label>'
        + '<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code"'
        + ' required maxlength="16" autofocus>'
        + '<button type="submit">Verify</button></form>'
        + '<p class="muted">Lost your phone? Enter one of your recovery codes instead.</p>'
    )


def passkey_sign_in(action, csrf, next_path, options, error="", login_url=""):
    return (
        error_box(error)
        + "<p>Sign in with the passkey or security key you set up for this clinic.</p>"
        + passkey_form(action, csrf, next_path, options, "get", "Sign in with a passkey")
        + ('<p class="muted"><a href="%s">Sign in with password instead</a></p>' % esc(login_url) if login_url else "")
    )


SIGN_IN_MODES = {
    "off": "password and a second step",
    "on": "a passkey, or password and a second step",
    "only": "a passkey alone (no password)",
}


def passkeys_page(action, csrf, options, keys, mode, notice="", error=""):
    """The account's passkeys: the list, adding one, removing one, and how the account signs in."""
    rows = "".join(
        '<tr><td>%s</td><td>%s</td><td>%s</td><td><form class="inline" method="post" action="%s">%s%s%s'
        '<button type="submit" class="danger">Remove</button></form></td></tr>'
        % (esc(k["name"]), esc(k["created"]), esc(k["last_used"] or "never"), esc(action), hidden("csrf", csrf),
           hidden("action", "remove"), hidden("credential_id", k["credential_id"])) for k in keys)
    body = (('<p class="note">%s</p>' % esc(notice) if notice else "") + error_box(error)
            + ("<table><tr><th>Name</th><th>Added</th><th>Last used</th><th></th></tr>%s</table>" % rows
               if keys else "<p>No passkeys or security keys yet.</p>")
            + "<h2>Add a passkey or security key</h2>"
            + passkey_form(action, csrf, "", options, "create", "Add passkey",
                           hidden("action", "add") + '<label for="name">Name (for example "office key")</label>'
                           '<input id="name" name="name" type="text" maxlength="40" required>'))
    if keys:
        choices = "".join('<option value="%s"%s>%s</option>'
                          % (esc(value), " selected" if value == mode else "", esc(text))
                          for value, text in SIGN_IN_MODES.items())
        body += ("<h2>How you sign in</h2>"
                 + '<form method="post" action="%s">' % esc(action) + hidden("csrf", csrf) + hidden("action", "sign_in")
                 + '<label for="mode">Sign in with</label><select id="mode" name="mode">%s</select>' % choices
                 + '<button type="submit" class="secondary">Save</button></form>')
    return body


def enroll_form(action, csrf, next_path, svg, secret, error=""):
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return (
        error_box(error)
        + "<p>Two-step sign-in is required. Scan this code with an authenticator app"
        + " (for example Google Authenticator, Microsoft Authenticator or FreeOTP).</p>"
        + '<div class="qr">%s</div>' % svg
        + '<p class="muted">Cannot scan? Enter this key:</p><code class="secret">%s</code>' % esc(grouped)
        + '<form method="post" action="%s">' % esc(action)
        + hidden("csrf", csrf) + hidden("next", next_path)
        + '<label for="code">Code shown by the app</label>'
        + '<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code"'
        + ' required maxlength="8" autofocus>'
        + '<button type="submit">Confirm</button></form>'
    )


def recovery_codes(codes, continue_url):
    items = "".join("<li>%s</li>" % esc(c) for c in codes)
    return (
        '<p class="note">Two-step sign-in is set up. Keep these recovery codes somewhere safe: each one'
        " works once if you lose your phone. They will not be shown again.</p>"
        + '<ol class="codes">%s</ol>' % items
        + '<p><a href="%s">Continue to OSCAR</a></p>' % esc(continue_url)
    )


def justify_form(action, csrf, next_path, policy, prompt, error=""):
    return (
        error_box(error)
        + "<p>%s</p>" % esc(prompt or "Please state why you need access. Your answer is recorded in the audit log.")
        + '<form method="post" action="%s">' % esc(action)
        + hidden("csrf", csrf) + hidden("next", next_path) + hidden("policy", policy)
        + '<label for="reason">Purpose</label>'
        + '<textarea id="reason" name="reason" required minlength="10" maxlength="1000"></textarea>'
        + '<button type="submit">Continue</button></form>'
    )


def message(text, link=None, link_text="Continue"):
    body = '<p class="note">%s</p>' % esc(text)
    if link:
        body += '<p><a href="%s">%s</a></p>' % (esc(link), esc(link_text))
    return body
