"""One typed settings object, built once at start-up and passed down (never read at import)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def mask_url(url: str) -> str:
    """``url`` with its password, if any, shown as ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def default_home() -> Path:
    return Path(os.environ.get("EMBER_HOME") or Path.home() / ".ember").expanduser()


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _env_port(name: str) -> int:
    """A port number from the environment; 0 when unset. (ValueError, not an EmberError:
    settings sit below ember.errors; the CLI prints either as one line.)"""
    text = _env(name)
    if not text:
        return 0
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{name} is {text!r}: give a port number from 1 to 65535")
    return int(text)


def _env_flag(name: str) -> bool:
    text = _env(name).lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name} is {text!r}: give true or false (1/0, yes/no, on/off)")


@dataclass(frozen=True)
class Settings:
    """Server settings. ``home`` holds runtime state (job working dirs, environment caches)."""

    home: Path = field(default_factory=default_home)
    # May hold a database password: kept out of repr; show it with mask_url().
    store_url: str = field(default="", repr=False)
    artifacts_url: str = ""
    host: str = "127.0.0.1"
    port: int = 5717
    # The endpoint router's port (scoring URIs); None: the API port + 1, or any free port when
    # the API port is 0.
    serving_port: int | None = None
    max_concurrent_jobs: int = 4
    # Seconds a runner keeps retrying its reports while the server is away (restart).
    runner_retry_seconds: float = 600.0
    # Seconds between SIGTERM and SIGKILL when a job is cancelled.
    cancel_grace_seconds: float = 3.0
    # The Fernet key sealing connection secrets at rest; "" means <home>/secrets.key (made
    # once). Kept out of repr so settings printed in a log show no key.
    secrets_key: str = field(default_factory=lambda: os.environ.get("EMBER_SECRETS_KEY", ""),
                             repr=False)
    # Folders a datastore's local root must lie under (services/datastore_roots.py); empty:
    # the server's working folder. ``working_dir`` "" is the folder the server starts in.
    allowed_datastore_roots: tuple[str, ...] = ()
    working_dir: str = ""
    # Every REST route needs a token (services/auth.py); off only on loopback (benchmarks).
    auth: bool = True
    # ``ember server start --admin-user``: the admin made (or given this password) at start;
    # a server bound beyond loopback needs one. The password comes from EMBER_ADMIN_PASSWORD.
    admin_user: str = ""
    admin_password: str = field(default="", repr=False)
    # ``--job-user``: the OS user jobs run as (engine/job_user.py); "" is the server's own.
    job_user: str = ""
    # The URL other machines (a Ray cluster's nodes) reach this server at; default base_url.
    public_url: str = field(default_factory=lambda: _env("EMBER_PUBLIC_URL"))
    # The SMTP server monitors' alert e-mails go through (services/notifications.py), from
    # EMBER_SMTP_*; no host: no e-mail. Port 0: 587 with STARTTLS, else 25; 465 means SSL.
    # The password is kept out of repr, as the store URL's is.
    smtp_host: str = field(default_factory=lambda: _env("EMBER_SMTP_HOST"))
    smtp_port: int = field(default_factory=lambda: _env_port("EMBER_SMTP_PORT"))
    smtp_username: str = field(default_factory=lambda: _env("EMBER_SMTP_USERNAME"))
    smtp_password: str = field(default_factory=lambda: os.environ.get("EMBER_SMTP_PASSWORD", ""),
                               repr=False)
    smtp_sender: str = field(default_factory=lambda: _env("EMBER_SMTP_FROM"))
    smtp_starttls: bool = field(default_factory=lambda: _env_flag("EMBER_SMTP_STARTTLS"))

    def resolved(self) -> Settings:
        """Fill the embedded defaults: SQLite and a local artifact folder under ``home``."""
        home = Path(self.home).expanduser().resolve()
        store = self.store_url or f"sqlite:///{home / 'ember.db'}"
        artifacts = self.artifacts_url or str(home / "artifacts")
        return Settings(
            home=home,
            store_url=store,
            artifacts_url=artifacts,
            host=self.host,
            port=self.port,
            serving_port=self.serving_port if self.serving_port is not None
            else (self.port + 1 if self.port else 0),
            max_concurrent_jobs=self.max_concurrent_jobs,
            runner_retry_seconds=self.runner_retry_seconds,
            cancel_grace_seconds=self.cancel_grace_seconds,
            secrets_key=self.secrets_key,
            allowed_datastore_roots=tuple(
                str(Path(p).expanduser().resolve()) for p in self.allowed_datastore_roots),
            working_dir=str(Path(self.working_dir or os.getcwd()).resolve()),
            auth=self.auth,
            admin_user=self.admin_user,
            admin_password=self.admin_password,
            job_user=self.job_user,
            public_url=self.public_url,
            smtp_host=self.smtp_host,
            smtp_port=self.smtp_port,
            smtp_username=self.smtp_username,
            smtp_password=self.smtp_password,
            smtp_sender=self.smtp_sender,
            smtp_starttls=self.smtp_starttls,
        )

    @property
    def loopback(self) -> bool:
        """Whether the server listens on this machine only."""
        return self.host in ("127.0.0.1", "localhost", "::1") or self.host.startswith("127.")

    @property
    def remote_url(self) -> str:
        """The server's URL as jobs on other machines (a Ray compute) reach it."""
        return (self.public_url or self.base_url).rstrip("/")

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"
