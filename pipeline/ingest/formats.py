"""Gateway log formats, each a parser from one line to a RequestEvent-shaped dict, in a registry.

- json:  RequestEvent JSON lines (the contract itself).
- nginx: the `combined` log_format, or a JSON log_format (a line starting with `{`) using either
         RequestEvent names or nginx variable names (see README "Feeding your own logs").
- jira:  atlassian-jira-http-access.log, which names the user.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

import orjson

from pipeline.auth.classify import GATEWAY_SCHEME_HEADER
from pipeline.errors import EventParseError

LineParser = Callable[[str], dict[str, Any]]
_FORMATS: dict[str, LineParser] = {}

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_CLF_TIME = re.compile(
    r"^(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$"
)
_REQUEST = re.compile(r"^([A-Za-z]{1,16}) (\S+)(?: (HTTP/\d(?:\.\d)?))?$")
# $remote_user may hold spaces, hence the lazy `.*?`; the time is bounded so that each place the
# user name could end costs a few characters, not the rest of the line (quadratic: minutes for
# a 256 KB line of " [x").
_COMBINED = re.compile(
    r'^(?P<addr>\S+) \S+ (?P<user>.*?) \[(?P<time>[^\]]{1,64})\] "(?P<request>(?:[^"\\]|\\.)*)" '
    r"(?P<status>\d{3}) (?P<bytes>\d+|-)"
    r'(?: "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<ua>(?:[^"\\]|\\.)*)")?'
)
_JIRA = re.compile(
    r"^(?P<addr>\S+) (?P<rid>\S+) (?P<user>\S+) \[(?P<time>[^\]]+)\] "
    r'"(?P<request>(?:[^"\\]|\\.)*)" '
    r"(?P<status>\d{3}) (?P<bytes>\d+|-) (?P<ms>\d+|-)"
    r'(?: "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<ua>(?:[^"\\]|\\.)*)"(?: "(?P<session>[^"]*)")?)?'
)


def register_format(name: str) -> Callable[[LineParser], LineParser]:
    def add(fn: LineParser) -> LineParser:
        _FORMATS[name] = fn
        return fn

    return add


def formats() -> list[str]:
    return sorted(_FORMATS)


def parser_for(name: str) -> LineParser:
    try:
        return _FORMATS[name]
    except KeyError:
        raise EventParseError(
            f"unknown log format {name!r} (known: {', '.join(formats())})"
        ) from None


@lru_cache(maxsize=4096)
def clf_time(text: str) -> datetime:
    """`14/May/2024:09:00:01 +0000` (nginx $time_local, Jira %t), cached: lines share seconds."""
    m = _CLF_TIME.match(text)
    if not m or m.group(2) not in _MONTHS:
        raise EventParseError("time is not dd/Mon/yyyy:HH:MM:SS +zzzz")
    day, mon, year, hh, mm, ss, sign, oh, om = m.groups()
    offset = timedelta(hours=int(oh), minutes=int(om)) * (1 if sign == "+" else -1)
    try:
        return datetime(
            int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss), tzinfo=timezone(offset)
        ).astimezone(UTC)
    except ValueError as err:
        raise EventParseError(f"time is out of range: {err}") from None


def split_request(request: str) -> tuple[str, str, str | None]:
    """`GET /path?q HTTP/1.1` → (method, path, query)."""
    m = _REQUEST.match(request)
    if not m:
        raise EventParseError("request line is not 'METHOD TARGET PROTOCOL'")
    method, target = m.group(1), m.group(2)
    path, _, query = target.partition("?")
    return method, path or "/", query or None


def _unescape(text: str | None) -> str | None:
    if text is None or text in ("", "-"):
        return None
    return text.replace('\\"', '"').replace("\\\\", "\\")


@register_format("json")
def parse_json(line: str) -> dict[str, Any]:
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as err:
        raise EventParseError(f"invalid JSON: {err.msg}") from None
    if not isinstance(data, dict):
        raise EventParseError("a RequestEvent line must be a JSON object")
    return data


def _combined(line: str) -> dict[str, Any]:
    m = _COMBINED.match(line)
    if not m:
        raise EventParseError("line does not match the nginx combined log format")
    method, path, query = split_request(m.group("request"))
    user = m.group("user")
    event: dict[str, Any] = {
        "timestamp": clf_time(m.group("time")),
        "client_ip": m.group("addr"),
        "method": method,
        "path": path,
        "query": query,
        "status": int(m.group("status")),
        "bytes": None if m.group("bytes") == "-" else int(m.group("bytes")),
        "user_agent": _unescape(m.group("ua")),
        "gateway": "nginx",
    }
    if user and user != "-":
        # nginx fills $remote_user only from an `Authorization: Basic` header.
        event["username"] = user
        event["headers"] = {GATEWAY_SCHEME_HEADER: "basic"}
    return event


# nginx variable names of a JSON log_format → RequestEvent fields.
_NGINX_JSON = {
    "time_iso8601": "timestamp",
    "remote_addr": "client_ip",
    "request_method": "method",
    "uri": "path",
    "args": "query",
    "query_string": "query",
    "body_bytes_sent": "bytes",
    "http_user_agent": "user_agent",
    "remote_user": "username",
}
_NGINX_HEADERS = {
    "http_authorization": "authorization",
    "http_cookie": "cookie",
    "http_x_api_key": "x-api-key",
    "http_x_forwarded_for": "x-forwarded-for",
}


def _nginx_json(line: str) -> dict[str, Any]:
    data = parse_json(line)
    event: dict[str, Any] = {"gateway": "nginx"}
    headers: dict[str, str] = dict(data.get("headers") or {})
    for key, value in data.items():
        if value in ("", "-", None):
            continue
        if key in _NGINX_HEADERS:
            headers[_NGINX_HEADERS[key]] = str(value)
        elif key in _NGINX_JSON:
            event[_NGINX_JSON[key]] = value
        elif key == "request_uri":
            target = str(value)
            event.setdefault("path", target.partition("?")[0])
            if "?" in target:
                event.setdefault("query", target.partition("?")[2])
        elif key == "request_time":
            event["latency_ms"] = float(value) * 1000.0
        elif key == "status":
            event["status"] = int(value)
        elif key != "headers":
            event[key] = value
    if "bytes" in event:
        event["bytes"] = int(event["bytes"])
    if "timestamp" not in event and "time_local" in data:
        event["timestamp"] = clf_time(str(data["time_local"]))
    if headers:
        event["headers"] = headers
    if event.get("username") and "authorization" not in headers:
        headers[GATEWAY_SCHEME_HEADER] = "basic"
        event["headers"] = headers
    return event


@register_format("nginx")
def parse_nginx(line: str) -> dict[str, Any]:
    return _nginx_json(line) if line.lstrip().startswith("{") else _combined(line)


@register_format("jira")
def parse_jira(line: str) -> dict[str, Any]:
    m = _JIRA.match(line)
    if not m:
        raise EventParseError("line does not match the Jira access log format")
    method, path, query = split_request(m.group("request"))
    user = m.group("user")
    return {
        "timestamp": clf_time(m.group("time")),
        "client_ip": m.group("addr"),
        "request_id": None if m.group("rid") == "-" else m.group("rid"),
        "method": method,
        "path": path,
        "query": query,
        "status": int(m.group("status")),
        "bytes": None if m.group("bytes") == "-" else int(m.group("bytes")),
        "latency_ms": None if m.group("ms") == "-" else float(m.group("ms")),
        "user_agent": _unescape(m.group("ua")),
        "username": None if user == "-" else user,
        "gateway": "jira",
    }
