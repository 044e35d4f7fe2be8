"""URL canonicalisation: one spelling per article, so the seen-store and the index agree.

``canonicalize`` is pure string work done before fetching: lowercase scheme and
host, drop default ports, fragments and tracking parameters, normalise the path
(dot segments, duplicate slashes, percent-encoding case) and sort what is left of
the query. ``canonical_from_html`` is the after-fetch step: the page's own
``rel=canonical`` / ``og:url``, trusted only when it stays on the same site.

Credentials: ``masked`` is the one spelling of a URL fit to print or store in a
report or a log (userinfo passwords and secret query parameters become ``***``);
``mask_urls`` does the same to every URL inside a text; ``without_userinfo`` and
``origin_of`` serve basic auth (pipeline/sources.py, pipeline/fetch/client.py).
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

# Parameters that identify a campaign or a click, never the article.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gclsrc",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "rb_clickid",
        "s_cid",
        "cmpid",
        "ocid",
        "ns_campaign",
        "ns_mchannel",
        "ns_source",
        "ns_linkname",
        "ns_fee",
        "at_medium",
        "at_campaign",
        "wt.mc_id",
        "ref_src",
        "spm",
        "xtor",
        "ito",
        "cid_source",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hmb_")

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters left unescaped in a path: RFC 3986 unreserved + sub-delims + ":@/".
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def is_tracking_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


@functools.lru_cache(maxsize=65536)  # a run canonicalises each URL several times (admit, fetch, store)
def canonicalize(url: str) -> str:
    """The canonical spelling of an http(s) URL; other schemes come back stripped only."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return url.strip()
    host = _host(parts.hostname or "")
    port = parts.port if parts.port and parts.port != _DEFAULT_PORTS[scheme] else None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((scheme, netloc, _path(parts.path), _query(parts.query), ""))


def _host(host: str) -> str:
    host = host.lower().rstrip(".")
    if ":" in host:  # IPv6 literal: urlsplit dropped its brackets
        return f"[{host}]"
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:  # not IDNA-encodable: keep it as written rather than guess
        return host


def _path(path: str) -> str:
    if not path:
        return "/"
    collapsed = re.sub(r"/{2,}", "/", path)
    normalised = posixpath.normpath(collapsed)
    if collapsed.endswith("/") and normalised != "/":
        normalised += "/"  # /news/ and /news are different resources on many sites
    return _normalise_escapes(normalised if normalised.startswith("/") else "/" + normalised)


def _normalise_escapes(path: str) -> str:
    # Decode then re-encode so %7e, ~ and %7E all end up as one spelling.
    return quote(unquote(path), safe=_PATH_SAFE)


def _query(query: str) -> str:
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if not is_tracking_param(k)]
    return urlencode(sorted(pairs), doseq=True)


def same_site(a: str, b: str) -> bool:
    """Same host ignoring www., or one host a subdomain of the other (news.un.org ~ www.un.org).

    Sibling subdomains (news.un.org vs press.un.org) are not the same site: a page
    cannot move its seen-store key to another desk's URL.
    """
    host_a = _site_host(a)
    host_b = _site_host(b)
    if not host_a or not host_b:
        return False
    return host_a == host_b or host_a.endswith("." + host_b) or host_b.endswith("." + host_a)


def _site_host(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    # Without a public-suffix list, "site" means: the host minus www., or a parent of it.
    return host[4:] if host.startswith("www.") else host


_LINK_CANONICAL = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_META_OG_URL = re.compile(r"<meta\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""([a-zA-Z:_-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
_HEAD_LIMIT = 200_000  # canonical hints live in <head>; never scan a whole huge page for them


def canonical_from_html(html: str, fetched_url: str) -> str | None:
    """The page's declared canonical URL (rel=canonical, else og:url), canonicalised, same site only."""
    head = html[:_HEAD_LIMIT]
    for declared in (_rel_canonical(head), _og_url(head)):
        if not declared:
            continue
        absolute = urljoin(fetched_url, declared.strip())
        if urlsplit(absolute).scheme in _DEFAULT_PORTS and same_site(absolute, fetched_url):
            return canonicalize(absolute)
    return None


def _attributes(tag: str) -> dict[str, str]:
    return {m.group(1).lower(): (m.group(2) or m.group(3) or m.group(4) or "") for m in _ATTR.finditer(tag)}


def _rel_canonical(head: str) -> str | None:
    for tag in _LINK_CANONICAL.findall(head):
        attrs = _attributes(tag)
        if "canonical" in attrs.get("rel", "").lower().split() and attrs.get("href"):
            return attrs["href"]
    return None


def _og_url(head: str) -> str | None:
    for tag in _META_OG_URL.findall(head):
        attrs = _attributes(tag)
        if attrs.get("property", attrs.get("name", "")).lower() == "og:url" and attrs.get("content"):
            return attrs["content"]
    return None


# ---------------------------------------------------------------- credentials

MASK = "***"

# Query (and fragment) parameters that carry a credential rather than name a resource:
# API keys, OAuth tokens, signed-URL signatures (S3, GCS, Azure SAS), passwords.
SECRET_PARAMS = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "auth",
        "auth_token",
        "authorization",
        "key",
        "api_key",
        "apikey",
        "api-key",
        "app_key",
        "client_secret",
        "secret",
        "password",
        "passwd",
        "pwd",
        "pass",
        "signature",
        "sig",
        "session",
        "sessionid",
        "sid",
        "jwt",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "x-goog-signature",
        "x-goog-credential",
    }
)
SECRET_SUFFIXES = ("_token", "_key", "_secret", "_password", "-token", "-key", "-secret")

# A URL inside free text: a scheme, "://", then everything up to whitespace, a quote or a bracket.
_URL_IN_TEXT = re.compile(r"""\b[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>`]+""")


def is_secret_param(name: str) -> bool:
    lowered = unquote(name).lower()
    return lowered in SECRET_PARAMS or lowered.endswith(SECRET_SUFFIXES)


def masked(url: str) -> str:
    """The URL fit to print or store: userinfo passwords and secret parameters replaced by ``***``.

    ``https://ann:pw@host/f?key=k&page=2`` → ``https://ann:***@host/f?key=***&page=2``; a userinfo
    without a password is masked whole (``https://TOKEN@host`` is how tokens often travel).
    Everything else is left exactly as written, so a masked URL still says which document it was.
    Works on any scheme (``redis://:pw@host``, ``s3://key:secret@bucket``) and never raises.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    cut = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    netloc, tail = rest[:cut], rest[cut:]
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{hostport}" if colon else f"{MASK}@{hostport}"
    path, hash_sign, fragment = tail.partition("#")
    path, question, query = path.partition("?")
    return f"{scheme}://{netloc}{path}{question}{_mask_params(query)}{hash_sign}{_mask_params(fragment)}"


def _mask_params(text: str) -> str:
    if "=" not in text:
        return text
    pairs = []
    for pair in text.split("&"):
        name, equals, value = pair.partition("=")
        pairs.append(f"{name}={MASK}" if equals and value and is_secret_param(name) else pair)
    return "&".join(pairs)


def mask_urls(text: str) -> str:
    """``text`` with every URL in it masked (log lines, reasons, exception messages)."""
    return _URL_IN_TEXT.sub(lambda m: masked(m.group(0)), text) if "://" in text else text


def mask_values(values: Mapping[str, object]) -> dict[str, object]:
    """The string values of a mapping with their URLs masked; other values as they are."""
    return {k: mask_urls(v) if isinstance(v, str) else v for k, v in values.items()}


def without_userinfo(url: str) -> str:
    """The URL with any ``user:password@`` removed, otherwise exactly as written."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    cut = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    netloc = rest[:cut]
    return f"{scheme}://{netloc.rpartition('@')[2]}{rest[cut:]}" if "@" in netloc else url


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` as canonicalised (default port dropped): where a credential may be sent."""
    parts = urlsplit(canonicalize(url))
    return f"{parts.scheme}://{parts.netloc}"
