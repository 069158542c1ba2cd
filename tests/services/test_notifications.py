"""Alert delivery against real servers on loopback: a stdlib HTTP receiver and aiosmtpd."""

from __future__ import annotations

import base64
import datetime
import email
import email.policy
import ipaddress
import json
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ember.engine.job_env import is_secret_name
from ember.errors import InvalidInputError
from ember.services.notifications import (
    NO_SMTP,
    USER_AGENT,
    Delivery,
    Notifier,
    SmtpSettings,
    check_email_address,
    check_webhook_url,
    format_email,
    smtp_settings,
)
from ember.settings import Settings

PAYLOAD: dict[str, Any] = {
    "schema": "ember.monitor.alert/1", "workspace": "ws", "monitor": "churn-drift",
    "job": "churn-drift-20261204100000", "job_url": "/ws/ws/jobs/churn-drift-20261204100000",
    "trigger_time": "2026-12-04T10:00:00Z", "target": "azureml:ep:dep",
    "signals": [{"name": "drift", "type": "data_drift", "breached": True,
                 "metrics": [{"feature": "age", "metric": "normalized_wasserstein_distance",
                              "value": 0.31, "threshold": 0.1, "breached": True},
                             {"feature": "income", "metric": "normalized_wasserstein_distance",
                              "value": 0.02, "threshold": 0.1, "breached": False}]},
                {"name": "quality", "type": "data_quality", "breached": False, "metrics": []}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- a webhook receiver ----------------------------------------------------------------

@dataclass
class Receiver:
    """Answers each POST with the next scripted (status, headers, body); 200 when none is
    left. Records every request it got."""

    url: str = ""
    script: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    got: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    hang: bool = False


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.got.append({"path": self.path, "headers": dict(self.headers),
                              "body": body})
            if state.hang:   # hold the answer past the client's timeout
                state.release.wait(10)
            status, headers, text = state.script.pop(0) if state.script else (200, {}, "ok")
            data = text.encode()
            try:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:   # the client gave up waiting (the timeout test)
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def fast(**kw: Any) -> Notifier:
    return Notifier(None, backoff=kw.pop("backoff", 0.001), **kw)


def test_webhook_retries_503_then_delivers_the_same_body_and_key(receiver: Receiver) -> None:
    receiver.script = [(503, {}, "busy"), (502, {}, ""), (200, {}, "ok")]
    d = fast(retries=5).webhook(receiver.url, PAYLOAD, key="alert-42")
    assert d == Delivery(f"webhook:{receiver.url}", True, 3, None)
    assert len(receiver.got) == 3
    for req in receiver.got:
        assert json.loads(req["body"]) == PAYLOAD
        assert req["headers"]["Idempotency-Key"] == "alert-42"
        assert req["headers"]["Content-Type"] == "application/json"
        assert req["headers"]["User-Agent"] == USER_AGENT
        assert USER_AGENT.startswith("ember-monitor/")
    assert len({r["body"] for r in receiver.got}) == 1


def test_webhook_default_key_is_the_same_for_the_same_alert(receiver: Receiver) -> None:
    n = fast()
    n.webhook(receiver.url, PAYLOAD)
    n.webhook(receiver.url, dict(PAYLOAD))
    n.webhook(receiver.url, {**PAYLOAD, "job": "another"})
    keys = [r["headers"]["Idempotency-Key"] for r in receiver.got]
    assert keys[0] == keys[1] != keys[2] and len(keys[0]) == 32


def test_webhook_does_not_retry_a_400(receiver: Receiver) -> None:
    receiver.script = [(400, {}, "invalid_payload\nmissing text")]
    d = fast(retries=5).webhook(receiver.url, PAYLOAD)
    assert not d.ok and d.attempts == 1 and len(receiver.got) == 1
    assert d.error == f"webhook {receiver.url}: answered 400 Bad Request: invalid_payload " \
                      "missing text"


def test_webhook_gives_up_after_its_retries(receiver: Receiver) -> None:
    receiver.script = [(500, {}, "")] * 5
    d = fast(retries=2).webhook(receiver.url, PAYLOAD)
    assert not d.ok and d.attempts == 3 and len(receiver.got) == 3
    assert d.error == f"webhook {receiver.url}: answered 500 Internal Server Error " \
                      "(after 3 attempts)"


def test_webhook_honours_retry_after_capped(receiver: Receiver,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.script = [(503, {"Retry-After": "0.05"}, ""), (429, {"Retry-After": "3600"}, ""),
                       (200, {}, "")]
    d = fast(retries=3, max_delay=0.2).webhook(receiver.url, PAYLOAD)
    assert d.ok and d.attempts == 3
    waits = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert "retry 1 of 3 in 0.05 s (Retry-After)" in waits[0]
    assert "answered 429 Too Many Requests; retry 2 of 3 in 0.2 s (Retry-After)" in waits[1]


def test_webhook_backoff_doubles(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ember.notifications")
    receiver.script = [(500, {}, "")] * 3
    fast(retries=3, backoff=0.01).webhook(receiver.url, PAYLOAD)
    waits = [r.getMessage().rpartition(" in ")[2] for r in caplog.records
             if "retry" in r.getMessage()]
    assert waits == ["0.01 s", "0.02 s", "0.04 s"]


def test_webhook_stops_retrying_when_the_wait_says_stop(receiver: Receiver) -> None:
    stop = threading.Event()
    stop.set()
    receiver.script = [(503, {}, "")] * 3
    d = Notifier(None, retries=5, backoff=5.0, sleep=stop.wait).webhook(receiver.url, PAYLOAD)
    assert not d.ok and d.attempts == 1 and "retries stopped" in (d.error or "")


def test_webhook_to_a_closed_port_fails_in_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    d = fast(retries=1).webhook(url, PAYLOAD)
    assert not d.ok and d.attempts == 2
    assert d.error is not None and "\n" not in d.error
    assert d.error.startswith(f"webhook {url}: could not connect: ")
    assert d.error.endswith("(after 2 attempts)")


def test_webhook_timeout_is_retried_and_reported(receiver: Receiver) -> None:
    receiver.hang = True
    d = fast(retries=1, timeout=0.2).webhook(receiver.url, PAYLOAD)
    assert not d.ok and d.attempts == 2
    assert d.error == f"webhook {receiver.url}: timed out after 0.2 s (ReadTimeout) " \
                      "(after 2 attempts)"


def test_webhook_does_not_follow_redirects(receiver: Receiver) -> None:
    receiver.script = [(302, {"Location": "http://elsewhere.invalid/"}, "")]
    d = fast().webhook(receiver.url, PAYLOAD)
    assert not d.ok and d.attempts == 1
    assert "answered 302 Found (redirects are not followed" in (d.error or "")


def test_webhook_secrets_stay_out_of_results_and_logs(receiver: Receiver,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)   # httpx, httpcore and ours, every level
    port = receiver.url.split(":")[2].split("/")[0]
    url = f"http://alice:pa55word@127.0.0.1:{port}/hook?token=t0ps3cret&team=ops"
    receiver.script = [(503, {}, ""), (401, {}, "bad token t0ps3cret for alice:pa55word")]
    d = fast(retries=3).webhook(url, PAYLOAD)
    assert d.target == f"webhook:http://127.0.0.1:{port}/hook"
    assert not d.ok and d.attempts == 2 and "answered 401 Unauthorized" in (d.error or "")
    # the receiver did get the credentials: as Basic auth and in the query
    assert receiver.got[0]["path"] == "/hook?token=t0ps3cret&team=ops"
    assert receiver.got[0]["headers"]["Authorization"] == \
        "Basic " + base64.b64encode(b"alice:pa55word").decode()
    closed = fast().webhook(f"https://bob:pa55word@127.0.0.1:{free_port()}/h?token=t0ps3cret",
                            PAYLOAD)
    for text in (repr(d), repr(closed), caplog.text):
        assert "t0ps3cret" not in text and "pa55word" not in text
    assert caplog.records, "the retries were logged"


@pytest.mark.parametrize(("url", "message"), [
    ("ftp://files.example.com/hook", "webhook ftp://files.example.com/hook is ftp: URL"),
    ("file:///etc/passwd", "is file: URL: a webhook must be an http:// or https:// URL"),
    ("hooks.example.com/ember", "is a URL without a scheme"),
    ("http:///only/a/path", "has no host"),
    ("http://example.com:port/x", "is not a valid URL"),
    ("https://example.com/a b", "holds spaces or control characters"),
    ("", "the webhook URL is empty"),
])
def test_webhook_urls_other_than_http_are_refused(url: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("?", r"\?")):
        check_webhook_url(url)
    with pytest.raises(InvalidInputError):
        Notifier(None).webhook(url, PAYLOAD)


def test_a_refused_url_does_not_show_its_secrets() -> None:
    with pytest.raises(InvalidInputError) as info:
        check_webhook_url("gopher://u:s3cr3tpw@example.com/x?token=s3cr3ttok")
    assert str(info.value) == ("webhook gopher://example.com/x is gopher: URL: a webhook must "
                               "be an http:// or https:// URL")


def test_webhook_sends_nan_as_null(receiver: Receiver) -> None:
    assert fast().webhook(receiver.url, {"value": float("nan"), "x": [float("inf")]}).ok
    assert json.loads(receiver.got[0]["body"]) == {"value": None, "x": [None]}


# ---- e-mail ------------------------------------------------------------------------------

@dataclass
class Mailbox:
    port: int
    messages: list[Any] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    fail_data: list[str] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address.endswith("@nowhere.test"):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.fail_data:
            return self.fail_data.pop(0)
        self.messages.append(envelope)
        return "250 Message accepted"


def _start(mailbox: Mailbox, **kw: Any) -> Controller:
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port, **kw)
    controller.start()
    return controller


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    controller = _start(box)
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def auth_mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        if (login, password) == ("alerts", "sm7p-pa55"):
            box.logins.append((login, password))
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    controller = _start(box, authenticator=authenticator, auth_require_tls=False)
    try:
        yield box
    finally:
        controller.stop()


def _parsed(envelope: Any) -> Any:
    return email.message_from_bytes(envelope.content, policy=email.policy.default)


def test_email_is_received_with_subject_body_and_recipients(mailbox: Mailbox) -> None:
    subject, body = format_email(PAYLOAD, base_url="https://ember.example.com")
    smtp = SmtpSettings("127.0.0.1", mailbox.port, sender="monitor@ember.example.com")
    ds = Notifier(smtp).email(["ops@example.com", "ml@example.com"], subject, body)
    assert ds == [Delivery("email:ops@example.com", True, 1, None),
                  Delivery("email:ml@example.com", True, 1, None)]
    [envelope] = mailbox.messages
    assert envelope.mail_from == "monitor@ember.example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "ml@example.com"]
    msg = _parsed(envelope)
    assert msg["Subject"] == "[Ember] monitor churn-drift breached: drift (data_drift)"
    assert msg["To"] == "ops@example.com, ml@example.com"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content().replace("\r\n", "\n") == body   # CRLF on the wire
    assert "https://ember.example.com/ws/ws/jobs/churn-drift-20261204100000" in body


def test_email_logs_in_with_username_and_password(auth_mailbox: Mailbox) -> None:
    smtp = SmtpSettings("127.0.0.1", auth_mailbox.port, username="alerts",
                        password="sm7p-pa55")
    [d] = Notifier(smtp).email(["ops@example.com"], "s", "b")
    assert d.ok and auth_mailbox.logins == [("alerts", "sm7p-pa55")]
    assert len(auth_mailbox.messages) == 1
    assert "sm7p-pa55" not in repr(smtp)


def test_email_wrong_password_is_one_line_without_it(auth_mailbox: Mailbox) -> None:
    smtp = SmtpSettings("127.0.0.1", auth_mailbox.port, username="alerts",
                        password="wrong-pa55")
    [d] = Notifier(smtp, retries=3, backoff=0.001).email(["ops@example.com"], "s", "b")
    assert not d.ok and d.attempts == 1   # a refused login is not retried
    assert d.error is not None and "\n" not in d.error and "wrong-pa55" not in d.error
    assert d.error.startswith(f"SMTP server 127.0.0.1:{auth_mailbox.port} refused the login "
                              "of 'alerts': 535")
    assert not auth_mailbox.messages


def test_email_to_an_unreachable_server_names_it_not_the_password(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()
    smtp = SmtpSettings("127.0.0.1", port, username="alerts", password="sm7p-pa55")
    ds = Notifier(smtp, retries=1, backoff=0.001).email(["a@example.com", "b@example.com"],
                                                        "s", "b")
    assert [d.ok for d in ds] == [False, False] and ds[0].attempts == 2
    error = ds[0].error or ""
    assert error.startswith(f"SMTP server 127.0.0.1:{port} is unreachable: ")
    assert "\n" not in error and error.endswith("(after 2 attempts)")
    assert "sm7p-pa55" not in error + caplog.text


def test_email_refused_recipient_is_its_own_failure(mailbox: Mailbox) -> None:
    smtp = SmtpSettings("127.0.0.1", mailbox.port)
    ok, bad = Notifier(smtp).email(["ops@example.com", "ghost@nowhere.test"], "s", "b")
    assert ok.ok and not bad.ok
    assert bad.error == f"SMTP server 127.0.0.1:{mailbox.port} refused the recipient: " \
                        "550 5.1.1 no such user here"
    assert mailbox.messages[0].rcpt_tos == ["ops@example.com"]


def test_email_temporary_refusal_is_retried(mailbox: Mailbox) -> None:
    mailbox.fail_data = ["451 4.3.0 try again later"]
    smtp = SmtpSettings("127.0.0.1", mailbox.port)
    [d] = Notifier(smtp, backoff=0.001).email(["ops@example.com"], "s", "b")
    assert d.ok and d.attempts == 2 and len(mailbox.messages) == 1


def test_email_permanent_refusal_is_not_retried(mailbox: Mailbox) -> None:
    mailbox.fail_data = ["554 5.6.0 rejected"] * 3
    smtp = SmtpSettings("127.0.0.1", mailbox.port)
    [d] = Notifier(smtp, backoff=0.001).email(["ops@example.com"], "s", "b")
    assert not d.ok and d.attempts == 1
    assert d.error == f"SMTP server 127.0.0.1:{mailbox.port} refused: 554 5.6.0 rejected"


def test_email_starttls_the_server_lacks_is_a_clear_error(mailbox: Mailbox) -> None:
    smtp = SmtpSettings("127.0.0.1", mailbox.port, starttls=True)
    [d] = Notifier(smtp, backoff=0.001).email(["ops@example.com"], "s", "b")
    assert not d.ok and d.attempts == 1
    assert d.error == f"SMTP server 127.0.0.1:{mailbox.port}: STARTTLS extension not " \
                      "supported by server."


# -- TLS: a self-signed certificate for 127.0.0.1, trusted through SSL_CERT_FILE --

@pytest.fixture
def tls(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert_file, key_file)
    return cert_file, server_ctx


def test_email_over_starttls_with_login(tls: tuple[Path, ssl.SSLContext],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    cert_file, server_ctx = tls
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))   # how an operator trusts a private CA
    box = Mailbox(free_port())

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        box.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=True)

    # aiosmtpd's defaults: AUTH only after STARTTLS
    controller = _start(box, tls_context=server_ctx, require_starttls=True,
                        authenticator=authenticator)
    try:
        smtp = SmtpSettings("127.0.0.1", box.port, username="alerts", password="sm7p-pa55",
                            starttls=True)
        [d] = Notifier(smtp).email(["ops@example.com"], "s", "b")
    finally:
        controller.stop()
    assert d.ok and box.logins == [("alerts", "sm7p-pa55")] and len(box.messages) == 1


def test_email_over_ssl(tls: tuple[Path, ssl.SSLContext],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    cert_file, server_ctx = tls
    box = Mailbox(free_port())
    controller = _start(box, ssl_context=server_ctx)
    try:
        smtp = SmtpSettings("127.0.0.1", box.port, ssl=True)
        # not trusted: a certificate that does not verify fails at once, without retries
        [refused] = Notifier(smtp, backoff=0.001).email(["ops@example.com"], "s", "b")
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
        [d] = Notifier(smtp).email(["ops@example.com"], "s", "b")
    finally:
        controller.stop()
    assert not refused.ok and refused.attempts == 1
    assert (refused.error or "").startswith(f"SMTP server 127.0.0.1:{box.port}: TLS failed: ")
    assert "CERTIFICATE_VERIFY_FAILED" in (refused.error or "")
    assert d.ok and len(box.messages) == 1


def test_email_password_is_not_sent_in_clear_beyond_loopback() -> None:
    smtp = SmtpSettings("smtp.example.invalid", 25, username="u", password="sm7p-pa55")
    [d] = Notifier(smtp).email(["ops@example.com"], "s", "b")
    assert not d.ok and d.error == ("SMTP server smtp.example.invalid:25: refusing to send the "
                                    "password in clear text: set EMBER_SMTP_STARTTLS=true or "
                                    "use port 465 (SSL)")


def test_email_without_smtp_says_how_to_configure_it() -> None:
    ds = Notifier(None).email(["ops@example.com"], "s", "b")
    assert ds == [Delivery("email:ops@example.com", False, 0, NO_SMTP)]
    assert NO_SMTP.startswith("no SMTP server is configured: set EMBER_SMTP_HOST")


@pytest.mark.parametrize("address", ["ops", "@example.com", "ops@", "a@b.c, d@e.f",
                                     "Ops <ops@example.com>", "ops@example.com\nBcc: x@y.z"])
def test_malformed_addresses_are_refused(address: str) -> None:
    with pytest.raises(InvalidInputError, match="is not an e-mail address"):
        check_email_address(address)
    with pytest.raises(InvalidInputError):
        Notifier(None).email([address], "s", "b")


def test_recipients_must_be_a_list() -> None:
    with pytest.raises(InvalidInputError, match="give a list of addresses"):
        Notifier(None).email("ops@example.com", "s", "b")  # type: ignore[arg-type]


def test_smtp_settings_check_themselves() -> None:
    with pytest.raises(InvalidInputError, match="SSL and STARTTLS exclude each other"):
        SmtpSettings("smtp.example.com", 465, ssl=True, starttls=True)
    with pytest.raises(InvalidInputError, match="not a port number"):
        SmtpSettings("smtp.example.com", 0)
    with pytest.raises(InvalidInputError, match="EMBER_SMTP_FROM"):
        SmtpSettings("smtp.example.com", sender="nobody")


# ---- settings ----------------------------------------------------------------------------

def test_settings_read_smtp_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOST", "PORT", "USERNAME", "PASSWORD", "FROM", "STARTTLS"):
        monkeypatch.delenv(f"EMBER_SMTP_{name}", raising=False)
    assert smtp_settings(Settings()) is None
    monkeypatch.setenv("EMBER_SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("EMBER_SMTP_USERNAME", "alerts")
    monkeypatch.setenv("EMBER_SMTP_PASSWORD", "sm7p-pa55")
    monkeypatch.setenv("EMBER_SMTP_FROM", "ember@example.com")
    monkeypatch.setenv("EMBER_SMTP_STARTTLS", "true")
    settings = Settings().resolved()
    assert "sm7p-pa55" not in repr(settings)
    assert smtp_settings(settings) == SmtpSettings(
        "smtp.example.com", 587, username="alerts", password="sm7p-pa55",
        sender="ember@example.com", starttls=True, ssl=False)
    monkeypatch.setenv("EMBER_SMTP_STARTTLS", "0")
    monkeypatch.setenv("EMBER_SMTP_PORT", "465")
    s = smtp_settings(Settings())
    assert s is not None and s.port == 465 and s.ssl and not s.starttls
    monkeypatch.delenv("EMBER_SMTP_PORT")
    s = smtp_settings(Settings())
    assert s is not None and s.port == 25 and not s.ssl
    # jobs and workers inherit the server's environment without it (engine/job_env.py)
    assert is_secret_name("EMBER_SMTP_PASSWORD")


@pytest.mark.parametrize(("name", "value", "message"), [
    ("EMBER_SMTP_PORT", "smtp", "EMBER_SMTP_PORT is 'smtp': give a port number from 1 to 65535"),
    ("EMBER_SMTP_PORT", "70000", "EMBER_SMTP_PORT is '70000'"),
    ("EMBER_SMTP_STARTTLS", "maybe", "EMBER_SMTP_STARTTLS is 'maybe': give true or false"),
])
def test_settings_refuse_bad_smtp_values(monkeypatch: pytest.MonkeyPatch, name: str,
                                         value: str, message: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        Settings()


# ---- the alert as an e-mail --------------------------------------------------------------

def test_format_email_lists_the_breached_metrics() -> None:
    subject, body = format_email(PAYLOAD)
    assert subject == "[Ember] monitor churn-drift breached: drift (data_drift)"
    assert body == (
        "Monitor churn-drift in workspace ws found 1 of 2 signals past their thresholds.\n"
        "\n"
        "Target:       azureml:ep:dep\n"
        "Trigger time: 2026-12-04T10:00:00Z\n"
        "Monitor job:  churn-drift-20261204100000\n"
        "\n"
        "drift (data_drift):\n"
        "  - age: normalized_wasserstein_distance = 0.31 (threshold 0.1)\n"
        "  (1 other metric within threshold)\n"
        "\n"
        "Details: /ws/ws/jobs/churn-drift-20261204100000\n"
        "\n"
        f"-- sent by Ember ({USER_AGENT})\n")


def test_format_email_of_several_signals_and_metrics_without_feature() -> None:
    payload = {**PAYLOAD, "signals": [
        *PAYLOAD["signals"],
        {"name": "perf", "type": "model_performance", "breached": True,
         "metrics": [{"metric": "accuracy", "value": 0.712345, "threshold": 0.8,
                      "breached": True}]}]}
    subject, body = format_email(payload, base_url="https://ember.example.com/")
    assert subject == ("[Ember] monitor churn-drift breached: drift (data_drift), "
                       "perf (model_performance)")
    assert "  - accuracy = 0.7123 (threshold 0.8)\n" in body
    assert "Details: https://ember.example.com/ws/ws/jobs/churn-drift-20261204100000\n" in body


def test_a_webhook_url_is_shown_masked_and_restored_when_sent_back() -> None:
    from ember.services.notifications import masked_url, unmasked_url

    url = "https://bot:p4ss@hooks.example.com/ember/x?token=s3cret&channel=ml#frag"
    shown = masked_url(url)
    assert shown == ("https://bot:******@hooks.example.com/ember/x"
                     "?token=******&channel=******#******")
    assert "s3cret" not in shown and "p4ss" not in shown
    assert unmasked_url(shown, ["https://other.example.com/?token=x", url]) == url
    assert unmasked_url("https://plain.example.com/hook", []) == "https://plain.example.com/hook"
    assert masked_url("https://plain.example.com/hook") == "https://plain.example.com/hook"
    with pytest.raises(InvalidInputError, match="does not have") as info:
        unmasked_url("https://hooks.example.com/ember/x?token=******", [url])
    assert "s3cret" not in str(info.value)
