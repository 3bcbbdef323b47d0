"""fetch_url: the text of a public web page, read-only.

It reaches only public addresses: private, loopback, link-local and every other
non-public address (in any spelling: decimal, octal, hex, IPv4-mapped IPv6) is refused
unless OPERATOR_FILE's `[web] allow_hosts` names the host as the URL spells it. The check
is made on the addresses the name resolves to, the connection goes to the address that
was checked (so a DNS answer that changes between the two cannot move it), and every
redirect is followed by hand and checked the same way."""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import threading
import time
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from pydantic import Field

from app.tools import (
    OperatorFileError,
    ToolArgs,
    ToolContext,
    ToolError,
    load_operator,
    tool,
)

MAX_REDIRECTS = 5
MAX_FETCH_BYTES = 2 * 2**20  # of the page as sent; its text is then cut to MAX_OUTPUT_SIZE
USER_AGENT = "llm-planner (fetch_url)"
REDIRECTS = (301, 302, 303, 307, 308)
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _operator(ctx: ToolContext):
    try:
        return load_operator(ctx.settings.operator_file)
    except OperatorFileError as exc:
        raise ToolError(str(exc)) from None


def _deadline_left(deadline: float, url: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ToolError(f"{url} did not answer in time")
    return left


# -- which addresses are public -------------------------------------------------------------


def not_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why `ip` is no public address (loopback, private, ...), or None when it is one. IPv6
    forms that carry an IPv4 address (mapped, 6to4, Teredo, NAT64) are judged by it."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is None and ip in NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            reason = not_public(inner)
            return f"{reason} (inside {ip})" if reason else None
    for attribute, words in (("is_unspecified", "an unspecified address"), ("is_loopback", "a loopback address"),
                             ("is_link_local", "a link-local address"), ("is_multicast", "a multicast address"),
                             ("is_private", "a private address"), ("is_reserved", "a reserved address")):
        if getattr(ip, attribute):
            return words
    if not ip.is_global:
        return "not a public address"
    return None


def _resolve(host: str, port: int, timeout: float) -> list:
    """getaddrinfo within `timeout` (TimeoutError after it). The system resolver cannot be
    interrupted: a lookup that hangs finishes on a daemon thread of its own, and the tool
    answers in time instead of holding its executor thread until the resolver gives up."""
    answer: dict = {}
    done = threading.Event()

    def lookup() -> None:
        try:
            answer["found"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller as it is
            answer["error"] = exc
        finally:
            done.set()

    threading.Thread(target=lookup, name="fetch-url-dns", daemon=True).start()
    if not done.wait(timeout):
        raise TimeoutError(host)
    if "error" in answer:
        raise answer["error"]
    return answer["found"]


class _Target:
    """One URL, checked: where the connection goes and what it says it is."""

    def __init__(self, url: str, ctx: ToolContext, deadline: float) -> None:
        parts = urlsplit(url.strip())
        self.scheme = parts.scheme.lower()
        if self.scheme not in ("http", "https"):
            raise ToolError(f"only http:// and https:// URLs can be fetched, not {self.scheme or 'this'!r}")
        if parts.username is not None or parts.password is not None:
            raise ToolError("a URL with a user name or password in it is not fetched")
        try:
            host, port = parts.hostname, parts.port
        except ValueError:
            raise ToolError("the URL's port is not a number from 1 to 65535") from None
        if not host:
            raise ToolError("the URL names no host")
        try:
            self.host = host.encode("idna").decode("ascii") if not host.isascii() else host
        except UnicodeError:
            raise ToolError(f"{host!r} is not a valid host name") from None
        self.port = port or (443 if self.scheme == "https" else 80)
        self.spelled = f"[{self.host}]" if ":" in self.host else self.host  # as allow_hosts writes it
        self.allowed = _operator(ctx).web.allows(self.spelled, self.port)
        self.ip = self._checked_address(deadline)
        self.path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        default = self.port == (443 if self.scheme == "https" else 80)
        self.host_header = self.spelled if default else f"{self.spelled}:{self.port}"
        self.url = urlunsplit((self.scheme, self.host_header, parts.path or "/", parts.query, ""))

    def _checked_address(self, deadline: float) -> str:
        """Resolve the name; every address it has must be public (or the host allowed)."""
        try:
            found = _resolve(self.host, self.port, _deadline_left(deadline, self.host))
        except TimeoutError:
            raise ToolError(f"the host {self.host!r} was not resolved in time") from None
        except (socket.gaierror, UnicodeError, OSError):
            raise ToolError(f"the host {self.host!r} could not be resolved") from None
        addresses = []
        for *_, sockaddr in found:
            ip = ipaddress.ip_address(sockaddr[0].split("%")[0])
            if ip not in addresses:
                addresses.append(ip)
        if not addresses:
            raise ToolError(f"the host {self.host!r} has no address")
        if not self.allowed:
            for ip in addresses:
                reason = not_public(ip)
                if reason:
                    raise ToolError(f"{self.spelled} is {reason} ({ip}); fetch_url reaches only public "
                                    f"addresses unless OPERATOR_FILE's [web] allow_hosts names the host")
        return str(addresses[0])

    def request_url(self) -> str:
        """The URL with the checked address in place of the name: the connection goes there."""
        literal = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{self.scheme}://{literal}:{self.port}{self.path}"


def _fetch(target: _Target, client: httpx.Client, deadline: float, limit: int) -> tuple[httpx.Response, bytes, bool]:
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    client.timeout = httpx.Timeout(_deadline_left(deadline, target.url))
    body, truncated = b"", False
    headers = {"Host": target.host_header, "User-Agent": USER_AGENT,
               "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5"}
    with client.stream("GET", target.request_url(), headers=headers, extensions=extensions) as response:
        if response.status_code in REDIRECTS:
            return response, b"", False
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > limit:
                body, truncated = body[:limit], True
                break
            _deadline_left(deadline, target.url)
    return response, body, truncated


# -- HTML to readable text ------------------------------------------------------------------

BLOCKS = {"p", "div", "section", "article", "header", "footer", "main", "nav", "aside", "ul", "ol", "table",
          "tr", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "form", "figure", "dl", "dt", "dd"}
HIDDEN = {"script", "style", "noscript", "template", "svg", "head", "iframe", "object"}


class _Readable(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._hidden = 0
        self._in_title = False
        self._pre = 0

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self._in_title = True
        elif tag in HIDDEN:
            self._hidden += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in ("td", "th"):
            self.parts.append(" | ")
        elif tag in BLOCKS:
            self.parts.append("\n\n")
            if tag == "pre":
                self._pre += 1
            elif tag[0] == "h" and tag[1:].isdigit():
                self.parts.append("#" * int(tag[1]) + " ")

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        elif tag in HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in BLOCKS:
            self.parts.append("\n\n")
            if tag == "pre":
                self._pre = max(0, self._pre - 1)

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        elif not self._hidden:
            self.parts.append(data if self._pre else re.sub(r"\s+", " ", data))

    def text(self) -> str:
        lines = [line.rstrip() for line in "".join(self.parts).split("\n")]
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(line if line.strip() else "" for line in lines))
        return text.strip()


def readable_text(html: str) -> tuple[str, str]:
    """(title, text) of an HTML page: scripts, styles and markup dropped, blocks on lines."""
    parser = _Readable()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser copes with almost anything; what it cannot is shown as is
        return "", html
    return re.sub(r"\s+", " ", parser.title).strip(), parser.text()


# -- fetch_url ------------------------------------------------------------------------------


class FetchUrlArgs(ToolArgs):
    url: str = Field(..., min_length=1, max_length=2048, description="An http:// or https:// URL")


def _fetched_words(out: dict) -> str:
    head = f"{out['url']} (HTTP {out['status']})" + (f": {out['title']}" if out.get("title") else "")
    return f"{head}\n{out['text']}".rstrip()


@tool(permissions=["network"], tag="read", render=_fetched_words)
def fetch_url(args: FetchUrlArgs, ctx: ToolContext) -> dict:
    """The readable text of a web page (http or https; public addresses only)."""
    deadline = time.monotonic() + max(1.0, ctx.timeout - 1)
    url = args.url
    # Redirects are followed here, not by the client: each one is checked like the first URL.
    # A client per hop: a connection (and its TLS session) made for one name is never
    # reused for another that resolves to the same address. No proxy from the environment:
    # the connection must go to the address that was checked.
    for _ in range(MAX_REDIRECTS + 1):
        target = _Target(url, ctx, deadline)
        try:
            with httpx.Client(follow_redirects=False, trust_env=False) as client:
                response, body, truncated = _fetch(target, client, deadline, MAX_FETCH_BYTES)
        except httpx.TimeoutException:
            raise ToolError(f"{target.url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ToolError(f"{target.url} could not be fetched ({type(exc).__name__})") from None
        if response.status_code not in REDIRECTS:
            break
        location = response.headers.get("location")
        if not location:
            raise ToolError(f"{target.url} redirects without saying where")
        url = urljoin(target.url, location)
    else:
        raise ToolError(f"more than {MAX_REDIRECTS} redirects; stopped at {target.url}")
    content_type = (response.headers.get("content-type") or "").split(";")[0].strip().lower()
    textual = content_type.startswith("text/") or content_type in ("", "application/json", "application/xml",
                                                                  "application/xhtml+xml")
    if not textual:
        raise ToolError(f"{target.url} is {content_type}, not a text page")
    text = body.decode(response.encoding or "utf-8", "replace")
    title = ""
    if content_type in ("text/html", "application/xhtml+xml") or (not content_type and "<html" in text[:1000].lower()):
        title, text = readable_text(text)
    result = {"url": target.url, "status": response.status_code, "content_type": content_type or None,
              "title": title[:300], "text": text, "truncated": truncated}
    return _fitted(result, ctx.max_output_size)


def _fitted(result: dict, limit: int) -> dict:
    """`result` with its text cut so that the whole of it, as JSON, fits MAX_OUTPUT_SIZE: the
    model gets the page's beginning, not a cut JSON document."""
    text = result["text"]
    while True:
        size = len(json.dumps(result, ensure_ascii=False))
        if size <= limit or not result["text"]:
            return result
        keep = max(0, len(result["text"]) - (size - limit) - 16)
        result = {**result, "text": text[:keep], "truncated": True}
