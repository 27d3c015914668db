"""Who may talk to the console: the session secret, and the Host and Origin checks.

The console serves a project's store (every input, result and error of every
local execution) and can answer callbacks and resume executions, so it is
guarded like a local notebook server:

* **A session secret.** ``durable-exec ui`` prints an address carrying a
  random token (``/?token=...``). Opening it sets an HttpOnly, SameSite=Strict
  cookie holding the token and redirects to the bare address; every other
  request needs that cookie. Other users of the machine, and pages in the
  browser, cannot read the console without the printed address.
* **A CSRF token for every change.** Mutating requests (POST) must carry
  ``X-Durable-Exec-Token``, a second per-session value the page reads from
  its own markup. Another site cannot read it (the same-origin policy), and a
  custom header cannot be sent cross-site without a CORS preflight, which the
  console never grants.
* **Host and Origin against DNS rebinding.** A hostile page can point its own
  name at 127.0.0.1; the browser then sends that name in ``Host``. Every
  request's ``Host`` must name the console itself (a loopback name, the
  address it listens on, the machine's name when it listens on every
  address, or a name given with ``--allow-host``), with its port; a POST's
  ``Origin`` must be the console's own origin.

Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie
from typing import Final

__all__ = [
    "CSRF_HEADER",
    "LOOPBACK_NAMES",
    "Guard",
    "is_loopback",
    "is_unspecified",
    "split_host",
]

CSRF_HEADER: Final = "X-Durable-Exec-Token"
LOOPBACK_NAMES: Final = frozenset({"127.0.0.1", "localhost", "::1", "localhost.localdomain"})


def is_unspecified(host: str) -> bool:
    """Whether ``host`` means every address of the machine (empty, or an unspecified address)."""
    name = host.strip("[]")
    if not name:
        return True
    try:
        return ipaddress.ip_address(name).is_unspecified
    except ValueError:
        return False


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only reaches this machine."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def split_host(value: str) -> tuple[str, int | None] | None:
    """Split a ``Host`` header (``name:port``, ``[v6]:port``, ``name``) into (name, port).

    Returns:
        ``(lower-case name without brackets, port or None)``, or ``None`` when
        the value is malformed.
    """
    value = value.strip()
    if not value or any(ch.isspace() or ch in "/\\@?#" for ch in value):
        return None
    if value.startswith("["):
        close = value.find("]")
        if close < 0:
            return None
        name, rest = value[1:close], value[close + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else None
    elif value.count(":") == 1:
        name, port_text = value.split(":")
    elif ":" in value:
        return None  # a bare IPv6 address must be bracketed
    else:
        name, port_text = value, None
    if port_text is None:
        return name.lower(), None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return name.lower(), int(port_text)


class Guard:
    """The console's secrets and the checks every request goes through.

    Args:
        host: The address the server listens on.
        port: Its port (the real one, after binding).
        allow_hosts: Further names a browser may use to reach it (``--allow-host``).
    """

    def __init__(self, host: str, port: int, allow_hosts: Iterable[str] = ()) -> None:
        self.port = port
        self.session = secrets.token_urlsafe(32)
        self.csrf = secrets.token_urlsafe(32)
        self.cookie_name = f"durable_exec_console_{port}"
        names = set(LOOPBACK_NAMES)
        bind = host.strip("[]").lower()
        if is_unspecified(bind):
            names.add(socket.gethostname().lower())
        else:
            names.add(bind)
        names.update(name.strip("[]").lower() for name in allow_hosts if name.strip())
        self.names = frozenset(names)

    def host_allowed(self, header: str | None) -> bool:
        """Whether a request's ``Host`` names this console (name and port)."""
        if not header:
            return False
        parsed = split_host(header)
        if parsed is None:
            return False
        name, port = parsed
        if port is None:
            port = 80
        return name in self.names and port == self.port

    def origin_allowed(self, origin: str | None) -> bool:
        """Whether ``Origin`` is this console's own origin (``http://NAME:PORT``)."""
        if not origin or not origin.startswith("http://"):
            return False
        return self.host_allowed(origin[len("http://") :])

    def token_matches(self, given: str | None) -> bool:
        """Whether ``given`` is the session token (the one in the printed address)."""
        return given is not None and hmac.compare_digest(given.encode(), self.session.encode())

    def csrf_matches(self, given: str | None) -> bool:
        """Whether ``given`` is the page's CSRF token."""
        return given is not None and hmac.compare_digest(given.encode(), self.csrf.encode())

    def authenticated(self, cookie_header: str | None) -> bool:
        """Whether the request's ``Cookie`` header carries the session."""
        if not cookie_header:
            return False
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(cookie_header)
        except CookieError:
            return False
        morsel = jar.get(self.cookie_name)
        return morsel is not None and self.token_matches(morsel.value)

    def session_cookie(self) -> str:
        """Return the ``Set-Cookie`` value that opens the session in a browser."""
        return f"{self.cookie_name}={self.session}; Path=/; HttpOnly; SameSite=Strict"
