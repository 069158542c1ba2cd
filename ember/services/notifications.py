"""Delivering a monitor's alert: a JSON POST to a webhook, and e-mail through an SMTP server.

The monitor engine builds the payload (schema ``ember.monitor.alert/1``); this module only
delivers it and says how each delivery went, as a :class:`Delivery` per target. A delivery
that fails is a result, not an exception: an alert that cannot be sent must not fail the
monitor. Only input that can never be sent (a URL that is not http/https, a malformed
address) raises :class:`~ember.errors.InvalidInputError`.

Secrets: a webhook URL's userinfo and query string may hold credentials (``?token=...``), and
so does the SMTP password. Neither appears in a ``Delivery``, an error or a log line: a target
is shown as ``webhook:<scheme>://<host>[:port]<path>``. For that reason requests go straight
to an httpx transport: ``httpx.Client`` logs every request's full URL at INFO.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import smtplib
import ssl
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parsedate_to_datetime
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urljoin, urlsplit

import httpx

from ember import __version__
from ember.errors import InvalidInputError
from ember.settings import Settings

log = logging.getLogger("ember.notifications")

ALERT_SCHEMA = "ember.monitor.alert/1"
USER_AGENT = f"ember-monitor/{__version__}"
# The longest wait between two attempts, whatever the backoff or a Retry-After asks.
MAX_DELAY = 60.0
NO_SMTP = ("no SMTP server is configured: set EMBER_SMTP_HOST (and, as needed, "
           "EMBER_SMTP_PORT, EMBER_SMTP_USERNAME, EMBER_SMTP_PASSWORD, EMBER_SMTP_FROM, "
           "EMBER_SMTP_STARTTLS) where the Ember server runs")
_LOOPBACK = ("localhost", "::1")


@dataclass(frozen=True)
class SmtpSettings:
    """Where alert e-mail goes. ``ssl``: TLS from the first byte (port 465); ``starttls``:
    plain connection upgraded with STARTTLS (port 587). A password is sent over TLS only,
    except to a loopback server."""

    host: str
    port: int = 25
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "ember@localhost"
    starttls: bool = False
    ssl: bool = False
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if not self.host.strip():
            raise InvalidInputError("the SMTP host is empty: set EMBER_SMTP_HOST")
        if not 0 < self.port < 65536:
            raise InvalidInputError(f"the SMTP port {self.port} is not a port number "
                                    "(1 to 65535): fix EMBER_SMTP_PORT")
        if self.ssl and self.starttls:
            raise InvalidInputError(f"SMTP server {self.host}:{self.port}: SSL and STARTTLS "
                                    "exclude each other (port 465 is SSL; unset "
                                    "EMBER_SMTP_STARTTLS, or use port 587)")
        check_email_address(self.sender, what="the sender address (EMBER_SMTP_FROM)")


def smtp_settings(settings: Settings) -> SmtpSettings | None:
    """The SMTP server from the server's settings (``EMBER_SMTP_*``); None without a host.
    No port: 587 with STARTTLS, else 25. Port 465 is SMTP over SSL (RFC 8314), unless
    STARTTLS is asked for."""
    if not settings.smtp_host:
        return None
    port = settings.smtp_port or (587 if settings.smtp_starttls else 25)
    return SmtpSettings(host=settings.smtp_host, port=port,
                        username=settings.smtp_username or None,
                        password=settings.smtp_password or None,
                        sender=settings.smtp_sender or "ember@localhost",
                        starttls=settings.smtp_starttls,
                        ssl=port == 465 and not settings.smtp_starttls)


@dataclass(frozen=True)
class Delivery:
    """How one target's delivery went. ``target`` is ``webhook:<url without userinfo, query
    or fragment>`` or ``email:<address>``; ``attempts`` 0 means nothing was tried."""

    target: str
    ok: bool
    attempts: int
    error: str | None = None


# ---- webhooks ----------------------------------------------------------------------------

def check_webhook_url(url: str) -> None:
    """Raise InvalidInputError, in one line that never shows the URL's secrets, unless ``url``
    is an absolute http or https URL with a host."""
    parts = _split(url)
    if parts.scheme.lower() not in ("http", "https"):
        shown = f"{parts.scheme}: URL" if parts.scheme else "a URL without a scheme"
        raise InvalidInputError(f"webhook {_shown(parts)} is {shown}: a webhook must be an "
                                "http:// or https:// URL")
    if not parts.hostname:
        raise InvalidInputError(f"webhook {_shown(parts)} has no host: give a URL such as "
                                "https://hooks.example.com/ember")
    try:
        httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise InvalidInputError(f"webhook {_shown(parts)} is not a valid URL") from None


MASK = "******"


def masked_url(url: str) -> str:
    """``url`` as the API shows it: the password of its userinfo, each query value and the
    fragment replaced by ``******`` (a webhook's URL often carries its token there). Sent back
    unchanged, :func:`unmasked_url` restores them."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        name, sep, _password = user.partition(":")
        netloc = f"{name}{':' + MASK if sep else ''}@{host}"
    query = "&".join(f"{k}={MASK}" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    return SplitResult(parts.scheme, netloc, parts.path, query,
                       MASK if parts.fragment else "").geturl()


def unmasked_url(url: str, known: list[str]) -> str:
    """A URL sent back masked (holding ``******``): the known URL it masks; raises
    InvalidInputError when none of ``known`` masks to it."""
    if MASK not in url:
        return url
    for candidate in known:
        if masked_url(candidate) == url:
            return candidate
    raise InvalidInputError(f"webhook {_shown(urlsplit(url))}: {MASK} stands for a secret of "
                            "a webhook this schedule does not have: give the whole URL")


def _split(url: str) -> SplitResult:
    if not isinstance(url, str) or not url.strip():
        raise InvalidInputError("the webhook URL is empty: give an http:// or https:// URL")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidInputError("the webhook URL holds spaces or control characters: "
                                "percent-encode them")
    try:
        parts = urlsplit(url)
        parts.port   # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise InvalidInputError("the webhook URL is not a valid URL (its host or port "
                                "does not parse)") from None
    return parts


def _shown(parts: SplitResult) -> str:
    """The URL without userinfo, query or fragment (which may hold credentials)."""
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}" if parts.scheme else f"{host}{parts.path}"


def _secrets_of(parts: SplitResult) -> list[str]:
    """The strings of a URL that may be credentials, to scrub from any text shown."""
    found: list[str] = []
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if userinfo:
        found += [userinfo, *(unquote(p) for p in userinfo.split(":", 1))]
    if parts.query:
        found.append(parts.query)
        found += [v for _, v in parse_qsl(parts.query, keep_blank_values=False)]
    if parts.fragment:
        found.append(parts.fragment)
    # the longest first, so a part of a longer secret does not leave the rest showing
    return sorted({s for s in found if len(s) >= 3}, key=len, reverse=True)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return " ".join(text.split())


def _json_safe(value: Any) -> Any:
    """NaN and infinities as null, as JSON.stringify writes them: strict JSON has no such
    numbers, and a drift metric may be one."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _proxy_for(url: str, host: str) -> str | None:
    """The proxy the environment names for ``url`` (HTTPS_PROXY/HTTP_PROXY, NO_PROXY), as
    httpx.Client would use it."""
    proxies = urllib.request.getproxies()
    proxy = proxies.get(urlsplit(url).scheme.lower()) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return proxy


@dataclass(frozen=True)
class _Attempt:
    """The outcome of one try: ok, or why not, whether to try again, and a wait asked for."""

    ok: bool
    reason: str = ""
    retry: bool = False
    wait: float | None = None


class Notifier:
    """Sends alerts. ``retries``: tries after the first, on connection errors, timeouts, 429,
    5xx (and a temporary SMTP failure), waiting ``backoff`` seconds, then twice as long each
    time (a 429/503's Retry-After instead), at most ``max_delay``. ``timeout``: seconds per
    HTTP request. ``sleep`` waits between attempts: time.sleep, or a stop event's ``wait``
    so that a server shutting down is not held by an alert's retries."""

    def __init__(self, smtp: SmtpSettings | None, *, retries: int = 5, backoff: float = 1.0,
                 timeout: float = 10.0, max_delay: float = MAX_DELAY,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        if retries < 0 or backoff < 0 or timeout <= 0 or max_delay < 0:
            raise InvalidInputError("Notifier: retries, backoff and max_delay must be >= 0 and "
                                    "timeout > 0")
        self.smtp = smtp
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.max_delay = max_delay
        self._sleep = sleep

    # -- webhook --

    def webhook(self, url: str, payload: dict[str, Any], *, key: str | None = None) -> Delivery:
        """POST ``payload`` as JSON to ``url``, retried as the class says. Every attempt sends
        the same body and ``Idempotency-Key``: ``key``, or by default a hash of the payload,
        so the same alert sent twice carries the same key and a receiver can drop the copy.
        Raises InvalidInputError for a URL that is not http(s) or a payload that is not
        JSON; any failure to deliver is the returned Delivery's ``error``."""
        check_webhook_url(url)
        parts = urlsplit(url)
        target = f"webhook:{_shown(parts)}"
        secrets = _secrets_of(parts)
        try:
            body = json.dumps(_json_safe(payload), ensure_ascii=False, separators=(",", ":"),
                              allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"{target}: the alert payload is not JSON: {exc}") from None
        if key is None:
            key = hashlib.sha256(body).hexdigest()[:32]
        if not key or not key.isascii() or not key.isprintable():
            raise InvalidInputError(f"{target}: the idempotency key must be printable ASCII")
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   "Idempotency-Key": key, "Accept": "*/*"}
        # Userinfo travels as Basic auth; the URL sent holds none.
        auth_url = parts._replace(netloc=parts.netloc.rpartition("@")[2], fragment="").geturl()
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            headers["Authorization"] = f"Basic {base64.b64encode(pair.encode()).decode()}"
        request = httpx.Request("POST", auth_url, content=body, headers=headers,
                                extensions={"timeout": httpx.Timeout(self.timeout).as_dict()})
        proxy = _proxy_for(auth_url, parts.hostname or "")
        with httpx.HTTPTransport(proxy=proxy) as transport:
            return self._with_retries(target, f"webhook {_shown(parts)}: ",
                                      lambda: self._post(transport, request, secrets))

    def _post(self, transport: httpx.HTTPTransport, request: httpx.Request,
              secrets: list[str]) -> _Attempt:
        try:
            response = transport.handle_request(request)
            try:   # the start of the answer only: a receiver's error page may be large
                head = b""
                for chunk in response.iter_bytes():
                    head += chunk
                    if len(head) >= 300:
                        break
                text = head[:300].decode("utf-8", "replace")
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            return _Attempt(False, _scrub(f"timed out after {self.timeout:g} s "
                                          f"({type(exc).__name__})", secrets), retry=True)
        except httpx.TransportError as exc:
            why = str(exc) or type(exc).__name__
            what = "could not connect" if isinstance(exc, httpx.ConnectError) \
                else "the request failed"
            return _Attempt(False, _scrub(f"{what}: {why}", secrets), retry=True)
        status = response.status_code
        if 200 <= status < 300:
            return _Attempt(True)
        reason = f"answered {status} {response.reason_phrase}".rstrip()
        if 300 <= status < 400:
            reason += " (redirects are not followed: give the final URL)"
        elif text.strip():
            reason += f": {text.strip()[:200]}"
        reason = _scrub(reason, secrets)
        retry = status == 429 or status >= 500
        wait = _retry_after(response.headers.get("Retry-After")) \
            if status in (429, 503) else None
        return _Attempt(False, reason, retry=retry, wait=wait)

    # -- e-mail --

    def email(self, to: list[str], subject: str, body: str) -> list[Delivery]:
        """Send one plain-text message to every address in ``to`` (one Delivery each, in
        order). Without an SMTP server every Delivery says how to configure one. Raises
        InvalidInputError for a malformed address."""
        if isinstance(to, str):
            raise InvalidInputError(f"e-mail recipients {to!r}: give a list of addresses")
        for address in to:
            check_email_address(address)
        if not to:
            return []
        if self.smtp is None:
            return [Delivery(f"email:{a}", False, 0, NO_SMTP) for a in to]
        smtp = self.smtp
        msg = EmailMessage()
        msg["Subject"] = " ".join(subject.split())   # one line: no header injection
        msg["From"] = smtp.sender
        msg["To"] = ", ".join(to)
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2] or None)
        # RFC 3834: sent by a program, so auto-responders do not answer it.
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(body)
        refused: dict[str, str] = {}
        attempts = 0

        def once() -> _Attempt:
            nonlocal attempts, refused
            attempts += 1
            outcome, refused = self._send(smtp, msg, to)
            return outcome

        sent = self._with_retries(f"email:{','.join(to)}", "", once)
        deliveries = []
        for address in to:
            if not sent.ok:
                deliveries.append(Delivery(f"email:{address}", False, attempts, sent.error))
            elif address in refused:
                deliveries.append(Delivery(f"email:{address}", False, attempts,
                                           refused[address]))
            else:
                deliveries.append(Delivery(f"email:{address}", True, attempts))
        return deliveries

    def _send(self, s: SmtpSettings, msg: EmailMessage,
              to: list[str]) -> tuple[_Attempt, dict[str, str]]:
        where = f"SMTP server {s.host}:{s.port}"
        secrets = [s.password] if s.password and len(s.password) >= 3 else []
        if s.username and not (s.ssl or s.starttls or _is_loopback(s.host)):
            return _Attempt(False, f"{where}: refusing to send the password in clear text: "
                            "set EMBER_SMTP_STARTTLS=true or use port 465 (SSL)"), {}
        try:
            context = ssl.create_default_context()
            server: smtplib.SMTP
            if s.ssl:
                server = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                server = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            with server:
                if s.starttls:
                    server.starttls(context=context)
                if s.username:
                    try:
                        server.login(s.username, s.password or "")
                    except smtplib.SMTPAuthenticationError as exc:
                        return _Attempt(False, _scrub(
                            f"{where} refused the login of {s.username!r}: "
                            f"{_smtp_reply(exc.smtp_code, exc.smtp_error)}", secrets)), {}
                refused = server.send_message(msg, from_addr=s.sender, to_addrs=to)
        except smtplib.SMTPRecipientsRefused as exc:
            return _Attempt(True), _refusals(where, exc.recipients, secrets)
        except smtplib.SMTPNotSupportedError as exc:
            return _Attempt(False, _scrub(f"{where}: {exc}", secrets)), {}
        except smtplib.SMTPResponseException as exc:
            # 4xx: the server asks to try again later; 5xx: it will not take this message
            return _Attempt(False, _scrub(f"{where} refused: "
                                          f"{_smtp_reply(exc.smtp_code, exc.smtp_error)}",
                                          secrets), retry=400 <= exc.smtp_code < 500), {}
        except ssl.SSLError as exc:   # a certificate that does not verify will not, later
            return _Attempt(False, _scrub(f"{where}: TLS failed: {exc}", secrets)), {}
        except (OSError, smtplib.SMTPException) as exc:
            why = str(exc) or type(exc).__name__
            return _Attempt(False, _scrub(f"{where} is unreachable: {why}", secrets),
                            retry=True), {}
        return _Attempt(True), _refusals(where, refused, secrets)

    # -- retries --

    def _with_retries(self, target: str, prefix: str,
                      attempt: Callable[[], _Attempt]) -> Delivery:
        """Run ``attempt`` until it succeeds, fails for good or the retries are spent; the
        error is ``prefix`` + the last attempt's reason."""
        tries = 0
        while True:
            tries += 1
            outcome = attempt()
            if outcome.ok:
                log.info("%s: delivered (attempt %d)", target, tries)
                return Delivery(target, True, tries)
            if not outcome.retry or tries > self.retries:
                return self._failed(target, prefix + outcome.reason, tries)
            delay = self.backoff * 2 ** (tries - 1) if outcome.wait is None else outcome.wait
            delay = min(delay, self.max_delay)
            log.warning("%s: %s; retry %d of %d in %.3g s%s", target, outcome.reason, tries,
                        self.retries, delay, " (Retry-After)" if outcome.wait is not None else "")
            # An Event.wait that answers True: the server is stopping; no more tries.
            if self._sleep(delay) is True:
                return self._failed(target, f"{prefix}{outcome.reason}; retries stopped "
                                    "(the server is stopping)", tries)

    @staticmethod
    def _failed(target: str, error: str, tries: int) -> Delivery:
        if tries > 1:
            error += f" (after {tries} attempts)"
        log.warning("%s: not delivered: %s", target, error)
        return Delivery(target, False, tries, error)


def _smtp_reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(f"{code} {text}".split())


def _refusals(where: str, refused: dict[str, tuple[int, bytes]],
              secrets: list[str]) -> dict[str, str]:
    return {address: _scrub(f"{where} refused the recipient: {_smtp_reply(code, text)}",
                            secrets) for address, (code, text) in refused.items()}


def _is_loopback(host: str) -> bool:
    return host in _LOOPBACK or host.startswith("127.")


def check_email_address(address: str, *, what: str = "e-mail address") -> None:
    """Raise InvalidInputError unless ``address`` is one plain address (``name@domain``, no
    display name, spaces, commas or line breaks)."""
    local, at, domain = address.rpartition("@") if isinstance(address, str) else ("", "", "")
    if not (at and local and domain) or any(c.isspace() or c in ",;<>\"" or ord(c) < 32
                                            for c in address):
        raise InvalidInputError(f"{what} {address!r} is not an e-mail address: give one "
                                "address such as ops@example.com")


# ---- the alert as an e-mail --------------------------------------------------------------

def format_email(payload: dict[str, Any], *, base_url: str = "") -> tuple[str, str]:
    """The subject and plain-text body of an alert payload (``ember.monitor.alert/1``).
    ``base_url`` (the server's, e.g. ``https://ember.example.com``) makes the job URL a link
    a mail reader can open."""
    monitor = str(payload.get("monitor") or "?")
    signals = [s for s in payload.get("signals") or [] if isinstance(s, dict)]
    breached = [s for s in signals if s.get("breached")]
    names = ", ".join(f"{s.get('name', '?')} ({s.get('type', '?')})" for s in breached)
    subject = f"[Ember] monitor {monitor} breached: {names}" if breached \
        else f"[Ember] monitor {monitor}: no signal breached"
    job_url = str(payload.get("job_url") or "")
    if job_url and base_url:
        job_url = urljoin(base_url.rstrip("/") + "/", job_url.lstrip("/"))
    lines = [
        (f"Monitor {monitor} in workspace {payload.get('workspace', '?')} found "
         f"{len(breached)} of {len(signals)} signal{'s' if len(signals) != 1 else ''} "
         "past their thresholds."),
        "",
        f"Target:       {payload.get('target', '?')}",
        f"Trigger time: {payload.get('trigger_time', '?')}",
        f"Monitor job:  {payload.get('job', '?')}",
    ]
    for signal in breached:
        lines += ["", f"{signal.get('name', '?')} ({signal.get('type', '?')}):"]
        metrics = [m for m in signal.get("metrics") or [] if isinstance(m, dict)]
        shown = [m for m in metrics if m.get("breached")]
        for m in shown:
            what = f"{m['feature']}: " if m.get("feature") else ""
            lines.append(f"  - {what}{m.get('metric', '?')} = {_number(m.get('value'))} "
                         f"(threshold {_number(m.get('threshold'))})")
        if len(metrics) > len(shown):
            lines.append(f"  ({len(metrics) - len(shown)} other metric"
                         f"{'s' if len(metrics) - len(shown) != 1 else ''} within threshold)")
    if job_url:
        lines += ["", f"Details: {job_url}"]
    lines += ["", f"-- sent by Ember ({USER_AGENT})"]
    return " ".join(subject.split()), "\n".join(lines) + "\n"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return "?" if value is None else str(value)
