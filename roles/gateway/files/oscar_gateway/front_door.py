"""The names nginx and the gateway must agree on that are not settings: the decision path, the cookies, the identity
headers. The nginx role's defaults (``nginx_gateway_auth_path``, ``nginx_gateway_session_cookie``,
``nginx_gateway_identity_headers``) equal these; ``tests/gateway/test_layout.py`` holds them together. The settings
both sides share (socket, page prefix, decision cache) are the gateway role's variables, which nginx's defaults
follow."""

# nginx's auth_request subrequest goes here; never under the pages' prefix, so no browser can call it.
AUTH_PATH = "/auth"
# __Host- cookies: Secure, Path=/, no Domain, so no other host of the clinic's domain can set or read them.
SESSION_COOKIE = "__Host-oscar-gw"
LOGIN_COOKIE = "__Host-oscar-gw-login"
CSRF_COOKIE = "__Host-oscar-gw-csrf"
# What an allow answer tells OSCAR (through nginx) about the person: user, email, display name, groups and roles.
IDENTITY_HEADERS = ("Remote-User", "Remote-Email", "Remote-Name", "Remote-Groups")
