"""The shared OSCAR path normalizer and path policy (plugins/module_utils/_oscar_paths.py).

The module is loaded from its file, the way the gateway service will load it (standard library
only, no Ansible on sys.path). The central property: whenever the normalizer accepts a raw path,
Tomcat and nginx resolve that raw path to exactly the normalizer's decision path, so a rule that
holds for the decision path holds for what Tomcat serves.
"""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
MODULE_FILE = ROOT / "plugins" / "module_utils" / "_oscar_paths.py"


def _load():
    spec = importlib.util.spec_from_file_location("oscar_paths_under_test", MODULE_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


op = _load()


# --- Models of the two resolvers ------------------------------------------------------------------

class Rejected(Exception):
    pass


def _decode(text, reject=b""):
    out = bytearray()
    data = text.encode("latin-1")
    i = 0
    while i < len(data):
        if data[i] == 0x25:
            pair = data[i + 1:i + 3]
            if len(pair) != 2 or not all(c in b"0123456789abcdefABCDEF" for c in pair):
                raise Rejected("bad escape")
            value = int(pair, 16)
            if value in reject:
                raise Rejected("forbidden escape")
            out.append(value)
            i += 3
        else:
            out.append(data[i])
            i += 1
    return bytes(out)


def _dots(segments):
    out = []
    for seg in segments:
        if seg == b"..":
            if not out:
                raise Rejected("above root")
            out.pop()
        elif seg not in (b".",):
            out.append(seg)
    return out


def tomcat_resolve(raw):
    """Tomcat 9 defaults: strip ;params per segment, decode (encoded / \\ NUL refused), normalize."""
    stripped = "/".join(seg.split(";", 1)[0] for seg in raw.split("/"))
    data = _decode(stripped, reject=b"/\\\x00")
    if b"\\" in data or b"\x00" in data or not data.startswith(b"/"):
        raise Rejected("backslash or relative")
    trailing = data.endswith(b"/") or data.endswith(b"/.") or data.endswith(b"/..")
    segs = [s for s in data.split(b"/")[1:] if s != b""]  # Tomcat collapses //
    out = _dots(segs)
    path = b"/" + b"/".join(out)
    if trailing and out:
        path += b"/"
    return path.decode("utf-8", "surrogateescape")


def nginx_uri(raw):
    """nginx's $uri: decode (escaped / and . take part in normalization), merge slashes, resolve dots."""
    data = _decode(raw, reject=b"\x00")
    trailing = data.endswith(b"/") or data.endswith(b"/.") or data.endswith(b"/..")
    out = _dots([s for s in data.split(b"/")[1:] if s != b""])
    path = b"/" + b"/".join(out)
    if trailing and out:
        path += b"/"
    return path.decode("utf-8", "surrogateescape")


def tomcat_blocked(resolved):
    """What a blocked rule protects: the resource Tomcat serves (case-sensitive, as Tomcat is)."""
    for entry in op.BLOCKED_PATHS:
        value = entry.value.replace("{context}", "/oscar")
        if entry.kind == "contains" and value.lower() in resolved.lower():
            return True
        if entry.kind == "prefix" and (resolved == value or resolved.startswith(value + "/")):
            return True
    return False


# --- Examples -------------------------------------------------------------------------------------

REFUSED = [
    "", "oscar/", "/oscar//index.jsp", "//manager/html", "/oscar/./index.jsp", "/oscar/../manager/html",
    "/oscar/..;/manager/html", "/oscar/%2e%2e/manager/html", "/oscar/%2E%2E/manager/html", "/oscar/.%2e/manager",
    "/oscar%2fmanager", "/oscar%2F..%2Fmanager", "/oscar\\..\\manager", "/oscar/%5c..%5cmanager",
    "/manager;x=1/html", "/oscar/index.jsp;foo=bar", "/oscar/%00", "/oscar/%252e%252e/manager", "/oscar/%3b/x",
    "/oscar/x%3Fy", "/oscar/x%23y", "/oscar/ x", "/oscar/\u00e9", "/oscar/a b", "/oscar/%zz", "/oscar/%4",
    "/oscar/..", "/oscar/.", "/.", "/..", "/oscar/index.jsp;jsessionid=", "/oscar/x;jsessionid=a/b",
    "/oscar/x;jsessionid=a;jsessionid=b", "/oscar/x;jsessionid=a%41", "/oscar/x?y", "/oscar/x#y", "/oscar/\n",
    "/oscar/%0a", "/oscar/%7f", "/oscar/[x]",
]

ALLOWED = {
    "/": "/",
    "/oscar": "/oscar",
    "/oscar/": "/oscar/",
    "/oscar/index.jsp": "/oscar/index.jsp",
    "/oscar/login.do;jsessionid=0123ABCDEF.node1": "/oscar/login.do",
    "/oscar/login.do;JSESSIONID=abc": "/oscar/login.do",
    "/oscar/provider/providercontrol.jsp": "/oscar/provider/providercontrol.jsp",
    "/oscar/%61dmin/x": "/oscar/admin/x",
    "/oscar/caf%C3%A9": "/oscar/caf\u00e9",
    "/oscar/.well-known/x": "/oscar/.well-known/x",
    "/oscar/...": "/oscar/...",
    "/oscar/a%20b": "/oscar/a b",
    "/oscar/%ff": "/oscar/\udcff",
}

BLOCKED = [
    "/manager", "/manager/html", "/Manager/html", "/MANAGER", "/manager;jsessionid=1", "/host-manager/html",
    "/docs/", "/examples/servlets", "/oscar/monitoring", "/oscar/Monitoring?x", "/drugref/DrugrefService",
    "/drugref2/", "/oscar/EFormViewForPdfGenerationServlet", "/oscar/eformViewForPdfGenerationServlet;jsessionid=1",
    "/oscar/EFormSignatureViewForPdfGenerationServlet", "/oscar/EFormImageViewForPdfGenerationServlet",
    "/oscar/x/forpdfgenerationservlet", "/OscarDocument/x.pdf", "/oscardocument/", "/faxWs/", "/Expedius",
    "/oscar_apps/", "/m%61nager/html", "/oscar/m%6fnitoring",
]

NOT_BLOCKED = ["/oscar/", "/oscar/managerial.jsp", "/docsx", "/drugrefx", "/oscar/docs/x", "/oscar/monitoringx",
               "/oscar_apps2", "/", "/oscar/ws/rs/x"]


@pytest.mark.parametrize("raw", REFUSED)
def test_ambiguous_spellings_are_refused(raw):
    with pytest.raises(op.AmbiguousPath):
        op.normalize(raw)
    assert not re.match(op.canonical_regex(), raw, re.IGNORECASE) or "?" in raw or raw == "" or "\n" in raw


@pytest.mark.parametrize(("raw", "decision"), sorted(ALLOWED.items()))
def test_canonical_paths_normalize_to_the_decoded_path(raw, decision):
    result = op.normalize(raw)
    assert result.decision_path == decision
    assert result.upstream_path == raw
    assert re.match(op.canonical_regex(), raw, re.IGNORECASE)


@pytest.mark.parametrize("target", BLOCKED)
def test_blocked_paths_in_every_canonical_spelling(target):
    result = op.normalize_target(target)
    assert op.is_blocked(result.decision_path), target
    # nginx matches the same expression on $uri, which keeps the ;jsessionid suffix.
    assert re.search(op.blocked_regex(), nginx_uri(target.split("?")[0]), re.IGNORECASE), target


@pytest.mark.parametrize("path", NOT_BLOCKED)
def test_neighbours_of_blocked_paths_stay_open(path):
    assert not op.is_blocked(op.normalize(path).decision_path)


def test_normalize_target_accepts_the_original_url_nginx_sends():
    result = op.normalize_target("https://emr.clinic.example/oscar/login.do;jsessionid=AB12?next=%2e%2e")
    assert result.decision_path == "/oscar/login.do"
    assert result.session_param == ";jsessionid=AB12"
    with pytest.raises(op.AmbiguousPath):
        op.normalize_target("https://emr.clinic.example/oscar/%2e%2e/manager/html")
    with pytest.raises(op.AmbiguousPath):
        op.normalize_target("/oscar/#frag")
    with pytest.raises(op.AmbiguousPath):
        op.normalize_target(None)
    with pytest.raises(op.AmbiguousPath):
        op.normalize(b"/oscar/")


def test_machine_and_login_paths():
    for path in ("/oscar/ws/LoginService", "/oscar/ws/rs/demographics", "/oscar/lab/newLabUpload.do",
                 "/oscar/lab/CMLlabUpload.do", "/oscar/WS/ScheduleService", "/oscar/lab/newLabUpload.do;jsessionid=1"):
        assert op.is_machine_path(path), path
    for path in ("/oscar/lab/view.do", "/oscar/wsx", "/oscar/login.do", "/ws/LoginService"):
        assert not op.is_machine_path(path), path
    for path in ("/oscar/login.do", "/oscar/LOGIN.DO", "/oscar/login.do;jsessionid=1", "/oscar/ws/LoginService",
                 "/oscar/ws/LoginService/", "/oscar/ws/oauth/initiate", "/oscar/ws/oauth/token"):
        assert op.is_login_path(path), path
    for path in ("/oscar/login.dox", "/oscar/logout.jsp", "/oscar/ws/LoginServiceX", "/oscar/ws/rs/x"):
        assert not op.is_login_path(path), path


def test_other_context_paths_and_inventory_extras():
    assert op.is_blocked("/oscar_mcmaster/monitoring", context="/oscar_mcmaster")
    assert not op.is_blocked("/oscar/monitoring", context="/oscar_mcmaster")
    extra = ["/oscar/admin", {"path": "ScratchPad", "kind": "contains"}]
    assert op.is_blocked("/oscar/admin/x", extra=extra)
    assert op.is_blocked("/oscar/x/myScratchPad.jsp", extra=extra)
    assert not op.is_blocked("/oscar/administration", extra=extra)
    assert op.is_machine_path("/oscar_15/ws/x", context="/oscar_15")
    for bad in ("/oscar/", "oscar", "/os car", "/oscar//x", "/%2e"):
        with pytest.raises(ValueError):
            op.blocked_regex(context=bad)
    for bad in (["/x/"], ["x"], [{"path": "/x", "kind": "regex"}], ["/a b"], [""], [{"path": None}]):
        with pytest.raises(ValueError):
            op.blocked_regex(extra=bad)


def test_expressions_are_portable_to_pcre():
    # nginx compiles these with PCRE: no Python-only syntax, no characters nginx would need escaped.
    for expression in (op.canonical_regex(), op.blocked_regex(extra=["/x-y"]), op.machine_regex(), op.login_regex()):
        assert "(?P" not in expression and "\\Z" not in expression and "\\A" not in expression
        assert '"' not in expression and "\\\\" not in expression
        re.compile(expression)


def test_module_imports_without_ansible():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('p', {str(MODULE_FILE)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "assert not any(n.startswith('ansible') for n in sys.modules), sorted(sys.modules)\n"
        "print(m.normalize('/oscar/').decision_path)\n"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "/oscar/"


# --- Properties -----------------------------------------------------------------------------------

TRICKY = st.lists(
    st.sampled_from(["/", ".", "..", ";", "%2e", "%2E", "%2f", "%5c", "%3b", "%25", "%61", "%6d", "\\", "a", "M",
                     "manager", "Manager", "oscar", "monitoring", "drugref", "2", "ws", "jsessionid=", "x",
                     ";jsessionid=A1", "EFormViewForPdfGenerationServlet", "%00", "%", " ", "?", "docs"]),
    max_size=12,
).map(lambda parts: "/" + "".join(parts))


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TRICKY)
@example("/oscar/..;/manager/html")
@example("/oscar/%2e%2e/manager/")
@example("/m%61nager")
def test_accepted_paths_resolve_identically_in_nginx_and_tomcat(raw):
    try:
        result = op.normalize(raw)
    except op.AmbiguousPath:
        return
    assert tomcat_resolve(raw) == result.decision_path
    suffix = result.session_param or ""
    assert nginx_uri(raw) == result.decision_path + suffix


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TRICKY)
def test_no_spelling_reaches_a_blocked_resource(raw):
    try:
        resolved = tomcat_resolve(raw)
    except Rejected:
        return  # Tomcat answers 400 itself
    if not tomcat_blocked(resolved):
        return
    try:
        result = op.normalize(raw)
    except op.AmbiguousPath:
        return
    assert op.is_blocked(result.decision_path), raw
    assert re.search(op.blocked_regex(), nginx_uri(raw), re.IGNORECASE), raw


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40))
def test_python_and_pcre_style_checks_agree(raw):
    raw = "/" + raw
    accepted = bool(re.match(op.canonical_regex(), raw, re.IGNORECASE)) and "?" not in raw
    try:
        op.normalize(raw)
        normalized = True
    except op.AmbiguousPath:
        normalized = False
    assert accepted == normalized


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=30))
def test_normalized_decision_paths_round_trip(text):
    from urllib.parse import quote

    raw = "/" + quote(text.replace("/", "").replace(".", "x"), safe="")
    if raw != "/" and "%" in raw:
        for bad in ("%2E", "%2F", "%5C", "%3B", "%25", "%3F", "%23", "%7F", *(f"%{i:02X}" for i in range(32))):
            if bad in raw.upper():
                return
    result = op.normalize(raw)
    assert result.decision_path == "/" + text.replace("/", "").replace(".", "x")


# --- issue 12: one canonical spelling for path rules (rule_form) --------------------------------------------------

@pytest.mark.parametrize(("path", "expected"), [
    ("/oscar/ADMIN", "/oscar/admin"), ("/oscar/Admin. /x.jsp", "/oscar/admin/x.jsp"), ("/oscar/admin.", "/oscar/admin"),
    ("/oscar/admin ", "/oscar/admin"), ("/oscar/admin.jsp", "/oscar/admin.jsp"), ("/", "/"),
])
def test_rule_form_folds_case_and_trailing_dots_and_spaces(path, expected):
    assert op.rule_form(path) == expected


@pytest.mark.parametrize("decision_path", [
    "/oscar/private", "/oscar/PRIVATE/x", "/oscar/private./x", "/oscar/private /x", "/oscar. /private",
    "/MANAGER/html", "/manager./html", "/oscar/monitoring ", "/oscar/private;jsessionid=1",
])
def test_blocked_prefixes_hold_for_every_spelling_of_rule_form(decision_path):
    assert op.is_blocked(decision_path, extra=["/oscar/private"])


@pytest.mark.parametrize("decision_path", ["/oscar/privateer", "/oscar/private.jsp", "/oscar/x/private"])
def test_blocked_prefixes_do_not_catch_other_names(decision_path):
    assert not op.is_blocked(decision_path, extra=["/oscar/private"])


@pytest.mark.parametrize("decision_path", ["/oscar/ws", "/oscar/WS", "/oscar/ws;jsessionid=1", "/oscar/ws/x"])
def test_bare_ws_is_a_machine_path(decision_path):
    assert op.is_machine_path(decision_path)


def test_wsx_is_not_a_machine_path():
    assert not op.is_machine_path("/oscar/wsx")
