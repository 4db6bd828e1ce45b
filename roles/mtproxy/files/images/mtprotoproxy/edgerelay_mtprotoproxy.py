# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, edgerelay.proxy contributors
"""Launcher of edgerelay/mtprotoproxy: mtprotoproxy 1.0.6 (PyPI, unmodified) configured from
the environment.

mtprotoproxy reads a Python config file. This launcher writes that file into a private
temporary directory (the image's root filesystem is read-only; /tmp is a tmpfs) from these
environment variables, then runs mtprotoproxy's ``main``:

  MTPROXY_PORT                port to listen on (default 443)
  MTPROXY_USERS               comma-separated name:secret, secret = 32 hex,
                              name = [A-Za-z0-9_.-]+
  MTPROXY_USERS_FILE          without MTPROXY_USERS: a file of "name secret" lines (# starts
                              a comment), default /etc/mtproxy/users; re-read on SIGUSR2
                              without a restart (connected clients stay)
  MTPROXY_TLS_DOMAIN          FakeTLS domain; empty: FakeTLS off (FakeTLS handshakes are
                              treated as bad clients)
  MTPROXY_TLS_ONLY            1/0; default 1 with a TLS domain, else 0
  MTPROXY_SECURE_ONLY         1/0; default 0
  MTPROXY_MASK_HOST           host that bad clients are relayed to; empty: they are dropped
  MTPROXY_MASK_PORT           default 443
  MTPROXY_PROXY_PROTOCOL      1/0: connections start with a PROXY protocol v1/v2 header
  MTPROXY_AD_TAG              optional 32 hex; only with it the middle proxy is used, and
                              only then does mtprotoproxy fetch Telegram's proxy config, the
                              time and the public address
  MTPROXY_REPLAY_CHECK_LEN    handshakes remembered against replays (default 32768)
  MTPROXY_STATS_PRINT_PERIOD  seconds between statistics lines (default 600)

Unlike mtprotoproxy's own ``__main__``, the launcher never prints the secrets or the proxy
links (``print_tg_info``, also called on SIGUSR2) and never asks a web service for the public
address (``init_ip_info``) unless an advertising tag needs it, and SIGUSR1 does not stop the
proxy in a debugger. It adapts mtprotoproxy 1.0.6
to Python 3.11: ``asyncio.start_server`` lost its ``loop`` argument, and
``asyncio.streams.IncompleteReadError`` moved to ``asyncio.IncompleteReadError``.

The lab image (images/mtproxy-lab) imports this module and adds its own hooks between
``load_mtprotoproxy`` and ``run``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import os
import re
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from types import ModuleType

MTPROTOPROXY_PATH = "/usr/local/bin/mtprotoproxy.py"
DEFAULT_USERS_FILE = "/etc/mtproxy/users"
HEX32 = re.compile(r"[0-9a-f]{32}")
USER_NAME = re.compile(r"[A-Za-z0-9_.-]+")
# A DNS name (FakeTLS domain, mask host) or an address; no quotes, spaces or control bytes.
HOST = re.compile(r"[A-Za-z0-9_.:-]+")
DEFAULT_REPLAY_CHECK_LEN = 32768
DEFAULT_STATS_PRINT_PERIOD = 600


class SettingsError(ValueError):
    """A setting is missing or malformed. The message never contains a secret."""


@dataclass(frozen=True)
class Settings:
    users: dict[str, str]
    # Where the users came from when not from MTPROXY_USERS (re-read on SIGUSR2).
    users_file: str = ""
    port: int = 443
    tls_domain: str = ""
    tls_only: bool = False
    secure_only: bool = False
    mask_host: str = ""
    mask_port: int = 443
    proxy_protocol: bool = False
    ad_tag: str = ""
    replay_check_len: int = DEFAULT_REPLAY_CHECK_LEN
    stats_print_period: int = DEFAULT_STATS_PRINT_PERIOD
    # Extra upper-case config names (the lab launcher adds LISTEN_ADDR_IPV4, for instance).
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def mask(self) -> bool:
        return bool(self.mask_host)

    @property
    def fake_tls(self) -> bool:
        return bool(self.tls_domain)


def _flag(environ, name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be 1 or 0")


def _integer(environ, name: str, default: int, low: int, high: int) -> int:
    raw = environ.get(name, "").strip()
    if raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise SettingsError(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def _host(environ, name: str) -> str:
    raw = environ.get(name, "").strip()
    if raw and not HOST.fullmatch(raw):
        raise SettingsError(f"{name} must be a host name or an address")
    return raw


def _check_user(users: dict[str, str], where: str, name: str, secret: str) -> None:
    if not USER_NAME.fullmatch(name):
        raise SettingsError(f"{where}: a user name is letters, digits, '_', '.' or '-'")
    if not HEX32.fullmatch(secret):
        raise SettingsError(f"{where} ({name}): the secret is not 32 hex characters")
    if name in users:
        raise SettingsError(f"{where}: user {name} is listed twice")
    users[name] = secret


def parse_users_lines(text: str, source: str) -> dict[str, str]:
    """A users file: one "name secret" per line; blank lines and # comments are skipped.
    Errors name the file, the line and the user, never the secret."""
    users: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 2:
            raise SettingsError(f"{source} line {number}: expected a name and a secret")
        _check_user(users, f"{source} line {number}", fields[0], fields[1].lower())
    if not users:
        raise SettingsError(f"{source} has no user")
    return users


def read_users_file(path: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise SettingsError(
            f"MTPROXY_USERS is empty and {path} does not exist "
            "(need name:secret pairs, secret = 32 hex)"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"cannot read {path}: {type(error).__name__}") from None
    return parse_users_lines(text, path)


def parse_users(raw: str) -> dict[str, str]:
    """``name:32hex,...`` to an ordered {name: secret}. Errors name the entry by its position
    and user name only: the secret (or whatever stands in its place) is never repeated."""
    users: dict[str, str] = {}
    entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
    if not entries:
        raise SettingsError("MTPROXY_USERS is empty (need name:secret, secret = 32 hex)")
    for index, entry in enumerate(entries, start=1):
        name, sep, secret = entry.partition(":")
        if not sep:
            raise SettingsError(f"MTPROXY_USERS entry #{index}: expected name:secret")
        _check_user(users, f"MTPROXY_USERS entry #{index}", name.strip(), secret.strip().lower())
    return users


def read_settings(environ) -> Settings:
    """The launcher's settings from an environment mapping (raises SettingsError)."""
    users_file = ""
    if environ.get("MTPROXY_USERS", "").strip():
        users = parse_users(environ["MTPROXY_USERS"])
    else:
        users_file = environ.get("MTPROXY_USERS_FILE", "").strip() or DEFAULT_USERS_FILE
        users = read_users_file(users_file)
    tls_domain = _host(environ, "MTPROXY_TLS_DOMAIN")
    ad_tag = environ.get("MTPROXY_AD_TAG", "").strip().lower()
    if ad_tag and not HEX32.fullmatch(ad_tag):
        raise SettingsError("MTPROXY_AD_TAG is not 32 hex characters")
    return Settings(
        users=users,
        users_file=users_file,
        port=_integer(environ, "MTPROXY_PORT", 443, 1, 65535),
        tls_domain=tls_domain,
        tls_only=_flag(environ, "MTPROXY_TLS_ONLY", bool(tls_domain)),
        secure_only=_flag(environ, "MTPROXY_SECURE_ONLY", False),
        mask_host=_host(environ, "MTPROXY_MASK_HOST"),
        mask_port=_integer(environ, "MTPROXY_MASK_PORT", 443, 1, 65535),
        proxy_protocol=_flag(environ, "MTPROXY_PROXY_PROTOCOL", False),
        ad_tag=ad_tag,
        replay_check_len=_integer(
            environ, "MTPROXY_REPLAY_CHECK_LEN", DEFAULT_REPLAY_CHECK_LEN, 0, 10**7
        ),
        stats_print_period=_integer(
            environ, "MTPROXY_STATS_PRINT_PERIOD", DEFAULT_STATS_PRINT_PERIOD, 1, 10**7
        ),
    )


def config_values(settings: Settings) -> dict[str, object]:
    """mtprotoproxy's config names and values for these settings."""
    values: dict[str, object] = {
        "PORT": settings.port,
        "USERS": dict(settings.users),
        "AD_TAG": settings.ad_tag,
        "USE_MIDDLE_PROXY": bool(settings.ad_tag),
        "TLS_DOMAIN": settings.tls_domain,
        "TLS_ONLY": settings.tls_only,
        "SECURE_ONLY": settings.secure_only,
        "MASK": settings.mask,
        "MASK_HOST": settings.mask_host,
        "MASK_PORT": settings.mask_port,
        "PROXY_PROTOCOL": settings.proxy_protocol,
        "REPLAY_CHECK_LEN": settings.replay_check_len,
        "STATS_PRINT_PERIOD": settings.stats_print_period,
        "PREFER_IPV6": False,
        "LISTEN_ADDR_IPV4": "0.0.0.0",
        "LISTEN_ADDR_IPV6": "",
    }
    if not settings.ad_tag:
        # No Telegram time service without the middle proxy (mtprotoproxy only asks for the
        # time with USE_MIDDLE_PROXY anyway; 0 says so in the config too).
        values["GET_TIME_PERIOD"] = 0
    values.update(settings.extra)
    return values


def render_config(settings: Settings) -> str:
    """The config file: one assignment per line, every value a Python literal (repr)."""
    return "".join(f"{name} = {value!r}\n" for name, value in config_values(settings).items())


def write_config(settings: Settings, directory: str | None = None) -> str:
    """Writes the config into a new private directory (mode 0700) and returns its path."""
    private = tempfile.mkdtemp(prefix="edgerelay-mtprotoproxy-", dir=directory)
    path = os.path.join(private, "config.py")
    rewrite_config(path, settings)
    return path


def rewrite_config(path: str, settings: Settings) -> None:
    """Replaces the config file at path at once (mode 0600): a reader sees the old or the new."""
    descriptor, temporary = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(render_config(settings))
    os.replace(temporary, path)


def describe(settings: Settings) -> str:
    """The startup line: no secret, no advertising tag."""
    fake_tls = f"on ({settings.tls_domain})" if settings.fake_tls else "off"
    mask = f"{settings.mask_host}:{settings.mask_port}" if settings.mask else "off (dropped)"
    return (
        f"edgerelay-mtprotoproxy: port {settings.port}, {len(settings.users)} user(s), "
        f"FakeTLS {fake_tls}, TLS only {'on' if settings.tls_only else 'off'}, "
        f"secure only {'on' if settings.secure_only else 'off'}, bad clients to {mask}, "
        f"PROXY protocol {'on' if settings.proxy_protocol else 'off'}, "
        f"middle proxy {'on' if settings.ad_tag else 'off'}"
    )


def load_mtprotoproxy(config_path: str, script: str | None = None) -> ModuleType:
    """Imports mtprotoproxy's script (it reads the config path from argv when imported) and
    loads its config."""
    script = script or os.environ.get("MTPROTOPROXY_PATH") or MTPROTOPROXY_PATH
    sys.argv = ["mtprotoproxy", config_path]
    spec = importlib.util.spec_from_file_location("mtprotoproxy", script)
    if spec is None or spec.loader is None:
        raise SystemExit(f"edgerelay-mtprotoproxy: cannot load {script}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["mtprotoproxy"] = module
    spec.loader.exec_module(module)
    module.init_config()
    return module


def adapt_asyncio() -> None:
    """The two changes of Python 3.10+ that mtprotoproxy 1.0.6 predates."""
    if not hasattr(asyncio.streams, "IncompleteReadError"):
        # Its relay loop catches asyncio.streams.IncompleteReadError; without the name every
        # finished session ends in "Task exception was never retrieved".
        asyncio.streams.IncompleteReadError = asyncio.IncompleteReadError
    if getattr(asyncio.start_server, "_edgerelay", False):
        return
    original = asyncio.start_server

    async def start_server(client_connected_cb, *args, loop=None, **kwargs):
        # `loop` is accepted and dropped on purpose (removed from asyncio in 3.10).
        return await original(client_connected_cb, *args, **kwargs)

    start_server._edgerelay = True
    asyncio.start_server = start_server


async def _fake_tls_off(handshake, reader, writer, peer):
    # Without a TLS domain FakeTLS is off: a FakeTLS ClientHello is a bad client.
    return False


def prepare(module: ModuleType, settings: Settings, config_path: str) -> None:
    """Hooks into the loaded mtprotoproxy: no secrets in the logs, FakeTLS on or off, the
    users file re-read on SIGUSR2, no debugger on SIGUSR1."""
    adapt_asyncio()

    def no_links() -> None:
        # Replaces print_tg_info (the links carry the secrets; SIGUSR2 calls it too).
        print("edgerelay-mtprotoproxy: config loaded", flush=True)

    module.print_tg_info = no_links
    if not settings.fake_tls:
        module.handle_fake_tls_handshake = _fake_tls_off
    if settings.users_file:
        _reload_users_on_sigusr2(module, settings, config_path)
    setup_signals = module.setup_signals

    def setup_signals_without_debugger() -> None:
        setup_signals()
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)

    module.setup_signals = setup_signals_without_debugger
    if settings.ad_tag:
        # The middle proxy needs the public address; only then is a web service asked.
        module.init_ip_info()


def _reload_users_on_sigusr2(module: ModuleType, settings: Settings, config_path: str) -> None:
    """mtprotoproxy's SIGUSR2 handler calls init_config, which re-reads the config file: the
    users file is read first and written into it. A bad users file keeps the running users."""
    load_config = module.init_config

    def init_config() -> None:
        try:
            users = read_users_file(settings.users_file)
        except SettingsError as error:
            print(f"edgerelay-mtprotoproxy: users kept: {error}", file=sys.stderr, flush=True)
            return
        rewrite_config(config_path, dataclasses.replace(settings, users=users))
        load_config()
        print(
            f"edgerelay-mtprotoproxy: {len(users)} user(s) from {settings.users_file}", flush=True
        )

    module.init_config = init_config
    # Until mtprotoproxy installs its handler, SIGUSR2 (whose default action ends the process)
    # only notes that the file changed; the handler then re-reads it once.
    pending = []
    signal.signal(signal.SIGUSR2, lambda signum, frame: pending.append(signum))
    setup_signals = module.setup_signals

    def setup_signals_then_catch_up() -> None:
        setup_signals()
        if pending:
            init_config()

    module.setup_signals = setup_signals_then_catch_up


def _exit_on_signal(signum, frame) -> None:
    # mtprotoproxy's own KeyboardInterrupt path calls asyncio.Task.all_tasks (gone since
    # 3.9); PID 1 in a container also ignores SIGTERM without a handler.
    raise SystemExit(0)


def run(module: ModuleType) -> None:
    """Runs mtprotoproxy's main loop until SIGTERM or SIGINT."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    asyncio.set_event_loop(asyncio.new_event_loop())
    module.main()


def start(environ, adjust_settings=None, adjust_module=None) -> None:
    """read_settings, write_config, load_mtprotoproxy, prepare, run; the lab launcher passes
    adjust_settings(environ, settings) -> settings and adjust_module(module, settings)."""
    try:
        settings = read_settings(environ)
        if adjust_settings is not None:
            settings = adjust_settings(environ, settings)
    except SettingsError as error:
        print(f"edgerelay-mtprotoproxy: {error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    config_path = write_config(settings)
    module = load_mtprotoproxy(config_path)
    prepare(module, settings, config_path)
    if adjust_module is not None:
        adjust_module(module, settings)
    print(describe(settings), flush=True)
    run(module)


if __name__ == "__main__":
    start(os.environ)
