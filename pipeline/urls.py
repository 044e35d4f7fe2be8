"""URL canonicalisation: one spelling per article, so the seen-store and the index agree.

``canonicalize`` is pure string work done before fetching: lowercase scheme and
host, drop default ports, fragments and tracking parameters, normalise the path
(dot segments, duplicate slashes, percent-encoding case) and sort what is left of
the query. ``page_canonical`` is the after-fetch step, the one canonical-URL resolver that
fetch (the seen-store key) and extraction (the article id) share: the page's own
``rel=canonical`` / ``og:url``, trusted only when it stays on the same site, which is one rule
everywhere: the same registrable domain (``same_site``, ``registrable_domain``, from the Public
Suffix List).

Credentials: ``masked`` is the one spelling of a URL fit to print or store in a
report or a log (userinfo passwords and secret query parameters become ``***``);
``mask_urls`` does the same to every URL inside a text; ``without_userinfo`` and
``origin_of`` serve basic auth (pipeline/sources.py, pipeline/fetch/client.py).

Storage locations: ``is_object_store`` is the one test of whether a place to read or write files
(captures, archives, run output) is an object store reached through fsspec (``s3://``, ``gs://``,
``memory://`` …) or the local disk (a path or a ``file://`` URL, which ``local_path`` turns into a
``Path``).
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import unescape as html_unescape
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

from tld import get_fld

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
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
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


# ---------------------------------------------------------------- the page's canonical URL


@functools.lru_cache(maxsize=16384)
def registrable_domain(host: str) -> str:
    """The part of a host name a registrant controls: ``news.bbc.co.uk`` → ``bbc.co.uk``.

    From the Public Suffix List (the ``tld`` package's copy, shipped in its wheel; private
    suffixes count, so two ``*.blogspot.com`` blogs are two sites). A suffix the list does not know
    (``.test``, ``.example``, ``localhost``) follows the list's default rule: the last label is the
    suffix. An IP address is its own site.
    """
    host = host.lower().strip(".")
    if not host or ":" in host or _IPV4.match(host):
        return host
    found = get_fld(host, fix_protocol=True, fail_silently=True)
    if isinstance(found, str) and found:
        return found
    return ".".join(host.split(".")[-2:])


def same_site(a: str, b: str) -> bool:
    """Both URLs on one registrable domain (``news.un.org`` ~ ``press.un.org`` ~ ``un.org``; not ``un.int``)."""
    host_a, host_b = _hostname(a), _hostname(b)
    return bool(host_a and host_b) and registrable_domain(host_a) == registrable_domain(host_b)


def _hostname(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:  # a bracketed host that is no IP address ("http://[::1"): no host at all
        return ""


@dataclass(frozen=True)
class Canonical:
    """The canonical URL of a fetched page, and where it came from."""

    url: str
    method: str  # "link" (rel=canonical), "meta" (og:url) or "fetched" (no usable declaration)


_LINK_TAG = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_META_TAG = re.compile(r"<meta\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""([a-zA-Z:_-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
# Canonical hints live in <head>, which some pages fill with inline script: cnbc.com states its
# rel=canonical 950 kB in. Past this many characters no page is read for them.
_HINT_LIMIT = 2_000_000


def page_canonical(html: str, fetched_url: str) -> Canonical:
    """The one canonical URL of a page: what fetch keys the seen-store by and extraction ids the article by.

    The page's ``rel=canonical``, else its ``og:url``, made absolute against ``fetched_url`` and
    canonicalised (tracking parameters go), when it is http(s) on the same site (``same_site``);
    else ``fetched_url`` canonicalised. Fetch and extraction both call this on the same decoded
    text (``pipeline.decode.decode_page``) and the same URL (the WARC-Target-URI), so both reach
    the same URL. Hints inside HTML comments do not count, as no browser reads them.
    """
    text = html[:_HINT_LIMIT]
    for method, declared in (("link", _rel_canonical(text)), ("meta", _og_url(text))):
        if not declared:
            continue
        try:
            absolute = urljoin(fetched_url, html_unescape(declared.strip()))
            if urlsplit(absolute).scheme in _DEFAULT_PORTS and same_site(absolute, fetched_url):
                return Canonical(canonicalize(absolute), method)
        except ValueError:  # a malformed declared URL (bad IPv6 literal, port): the page's next hint
            continue
    try:
        return Canonical(canonicalize(fetched_url), "fetched")
    except ValueError:  # a URL no parser can take apart is kept as it came
        return Canonical(fetched_url.strip(), "fetched")


def _attributes(tag: str) -> dict[str, str]:
    return {m.group(1).lower(): (m.group(2) or m.group(3) or m.group(4) or "") for m in _ATTR.finditer(tag)}


def _commented_out(text: str, at: int) -> bool:
    """Whether position ``at`` lies inside an ``<!-- … -->`` comment (one opened and not closed before it)."""
    return text.rfind("<!--", 0, at) > text.rfind("-->", 0, at)


def _rel_canonical(text: str) -> str | None:
    for tag in _LINK_TAG.finditer(text):
        attrs = _attributes(tag.group())
        if "canonical" in attrs.get("rel", "").lower().split() and attrs.get("href") \
                and not _commented_out(text, tag.start()):
            return attrs["href"]
    return None


def _og_url(text: str) -> str | None:
    for tag in _META_TAG.finditer(text):
        attrs = _attributes(tag.group())
        if attrs.get("property", attrs.get("name", "")).lower() == "og:url" and attrs.get("content") \
                and not _commented_out(text, tag.start()):
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


# ---------------------------------------------------------------- storage locations

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_object_store(location: Path | str) -> bool:
    """Whether ``location`` is an fsspec URL other than ``file://`` (s3://bucket/x, gs://…, memory://…).

    A ``Path``, a plain path and a ``file://`` URL are the local disk.
    """
    return isinstance(location, str) and bool(_SCHEME.match(location)) and not location.lower().startswith("file://")


def local_path(location: Path | str) -> Path:
    """A local location as a ``Path``: ``file://`` taken off, ``~`` expanded."""
    if isinstance(location, Path):
        return location.expanduser()
    text = location[len("file://"):] if location.lower().startswith("file://") else location
    return Path(text).expanduser()
