"""Sealed credentials: the box (X25519 + HKDF-SHA256 + ChaCha20-Poly1305), key files and
rotation, sealing a RequestEvent's credentials and opening them in the parse step."""

from __future__ import annotations

import base64
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from pipeline.auth.seal import (
    Opener,
    Sealer,
    generate_seal_key,
    key_id,
    load_public_key,
    opener_from,
    sealer_from,
)
from pipeline.auth.sealed import CredentialParts, EventSealer, gateway_sealer, open_event
from pipeline.batch import SourceRecord, classify_records, parse_records
from pipeline.cli.secrets import ensure_local_secrets
from pipeline.core import Processor
from pipeline.decisions.signing import generate_signing_key
from pipeline.errors import (
    ConfigError,
    SealFormatError,
    SealTamperedError,
    UnknownSealKeyError,
)
from pipeline.ingest.formats import parser_for
from pipeline.ingest.lines import Line, to_event
from pipeline.ingest.run import ingest
from pipeline.sample import SampleTraffic
from pipeline.wire import pack
from schemas.request import MAX_HEADERS, RequestEvent
from schemas.settings import SecretSettings, Settings

NOW = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)


@pytest.fixture
def key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


@pytest.fixture
def seal(key: X25519PrivateKey, settings: Settings) -> EventSealer:
    return EventSealer(Sealer(key.public_key()), CredentialParts.from_settings(settings.classifier))


@pytest.fixture
def sample() -> list[dict[str, Any]]:
    return list(SampleTraffic(seed=5).events(400))


def event(**fields: Any) -> RequestEvent:
    base: dict[str, Any] = {
        "timestamp": NOW.isoformat(),
        "method": "GET",
        "path": "/rest/api/2/myself",
        "status": 200,
        "client_ip": "10.0.0.7",
    }
    return RequestEvent.model_validate({**base, **fields})


def raw_credentials(data: dict[str, Any]) -> set[str]:
    """Every credential an event carries, as a gateway sent it and decoded."""
    found: set[str] = set()
    for name, value in data.get("headers", {}).items():
        name = name.lower()
        if name in ("authorization", "proxy-authorization"):
            keyword, _, token = value.partition(" ")
            found.add(token)
            if keyword.lower() == "basic":
                try:
                    found.add(base64.b64decode(token).decode().partition(":")[2])
                except ValueError:  # the sample's malformed Basic headers
                    continue
        elif name == "cookie":
            found.update(p.split("=", 1)[1] for p in value.split("; ") if "=" in p)
        elif name in ("x-api-key", "api-key", "x-restguard-key"):
            found.add(value)
    for param, value in parse_qsl(data.get("query") or ""):
        if param in ("os_password", "access_token", "api_key", "jwt", "oauth_signature"):
            found.add(value)
    return {s for s in found if len(s) >= 6}


def _flip(box: str, part: int) -> str:
    """The box with one character of one dot-separated part changed."""
    parts = box.split(".")
    text = parts[part]
    parts[part] = text[:5] + ("A" if text[5] != "A" else "B") + text[6:]
    return ".".join(parts)


class TestBox:
    def test_round_trip(self, key: X25519PrivateKey) -> None:
        """What is sealed to a public key is opened by its private key, bound to the same aad."""
        box = Sealer(key.public_key()).seal(b"Basic YWxpY2U6czNjcmV0", b"ev-1")
        assert box.startswith(f"rgs1.{key_id(key.public_key())}.")
        assert Opener([key]).open(box, b"ev-1") == b"Basic YWxpY2U6czNjcmV0"
        assert b"YWxpY2U6czNjcmV0" not in box.encode()

    @pytest.mark.parametrize("part", [2, 3], ids=["ephemeral-key", "ciphertext"])
    def test_tampered_box_is_refused(self, key: X25519PrivateKey, part: int) -> None:
        """Changing the ephemeral key or the ciphertext makes the box fail to authenticate."""
        box = Sealer(key.public_key()).seal(b"secret", b"ev-1")
        with pytest.raises(SealTamperedError):
            Opener([key]).open(_flip(box, part), b"ev-1")

    def test_box_moved_to_another_event_is_refused(self, key: X25519PrivateKey) -> None:
        """A box opens only with the aad (event id) it was sealed with."""
        box = Sealer(key.public_key()).seal(b"secret", b"ev-1")
        with pytest.raises(SealTamperedError):
            Opener([key]).open(box, b"ev-2")

    def test_wrong_key_is_an_unknown_key(self, key: X25519PrivateKey) -> None:
        """A box sealed to another key names a key id the opener does not hold."""
        other = X25519PrivateKey.generate()
        box = Sealer(other.public_key()).seal(b"secret")
        with pytest.raises(UnknownSealKeyError) as err:
            Opener([key]).open(box)
        assert err.value.kid == key_id(other.public_key())
        assert err.value.held == (key_id(key.public_key()),)

    def test_relabelled_key_id_is_refused(self, key: X25519PrivateKey) -> None:
        """A box relabelled with a held key's id does not authenticate under that key."""
        other = X25519PrivateKey.generate()
        box = Sealer(other.public_key()).seal(b"secret")
        parts = box.split(".")
        parts[1] = key_id(key.public_key())
        with pytest.raises(SealTamperedError):
            Opener([key]).open(".".join(parts))

    def test_rotation_with_two_private_keys(self, key: X25519PrivateKey) -> None:
        """Workers holding the new and the old key open boxes sealed to either; once the old
        key is dropped, its boxes are refused as sealed to an unknown key."""
        new = X25519PrivateKey.generate()
        old_box = Sealer(key.public_key()).seal(b"old")
        new_box = Sealer(new.public_key()).seal(b"new")
        both = Opener([new, key])
        assert (both.open(old_box), both.open(new_box)) == (b"old", b"new")
        with pytest.raises(UnknownSealKeyError):
            Opener([new]).open(old_box)

    @pytest.mark.parametrize(
        "box",
        [
            "",
            "rgs1",
            "rgs2.0123456789abcdef.AAAA.AAAA",
            "rgs1.0123456789ABCDEF.AAAA.AAAA",
            "rgs1.0123.AAAA.AAAA",
            "rgs1.0123456789abcdef.AA+A.AAAA",
            "rgs1.0123456789abcdef.AAAA.AAAA.AAAA",
        ],
    )
    def test_not_a_box(self, key: X25519PrivateKey, box: str) -> None:
        """Anything but a well-formed rgs1 box is a format error, never another exception."""
        with pytest.raises((SealFormatError, UnknownSealKeyError)):
            Opener([key]).open(box)

    def test_malformed_parts_of_a_held_key(self, key: X25519PrivateKey) -> None:
        """A held key id with a bad ephemeral key or a short ciphertext is a format error; a
        low-order ephemeral key (no shared secret) does not authenticate."""
        kid = key_id(key.public_key())
        opener = Opener([key])
        good = Sealer(key.public_key()).seal(b"x").split(".")
        with pytest.raises(SealFormatError):
            opener.open(f"rgs1.{kid}.AAAA.{good[3]}")
        with pytest.raises(SealFormatError):
            opener.open(f"rgs1.{kid}.{good[2]}.AAAA")
        for bad in ("+", "/", "=", "é", " "):  # base64, padding and other non-base64url
            with pytest.raises(SealFormatError):
                opener.open(f"rgs1.{kid}.{good[2]}.{good[3][:-4]}{bad}{good[3][-3:]}")
            with pytest.raises(SealFormatError):
                opener.open(f"rgs1.{kid}.{good[2][:-2]}{bad}{good[2][-1:]}.{good[3]}")
        zero = base64.urlsafe_b64encode(bytes(32)).rstrip(b"=").decode()
        with pytest.raises(SealTamperedError):
            opener.open(f"rgs1.{kid}.{zero}.{good[3]}")

    def test_ephemeral_key_is_renewed(self, key: X25519PrivateKey) -> None:
        """A sealer keeps its ephemeral key for max_uses boxes, each with a fresh nonce."""
        sealer = Sealer(key.public_key(), max_uses=2)
        boxes = [sealer.seal(b"same") for _ in range(3)]
        epks = [b.split(".")[2] for b in boxes]
        assert epks[0] == epks[1] != epks[2]
        assert boxes[0] != boxes[1]
        assert all(Opener([key]).open(b) == b"same" for b in boxes)


class TestKeyFiles:
    def test_generate_writes_a_private_key_only_its_owner_reads(self, tmp_path: Path) -> None:
        """The private key is 0600, the public key beside it; an existing pair is kept."""
        private, public = tmp_path / "k" / "seal.pem", tmp_path / "k" / "seal.pub.pem"
        assert generate_seal_key(private, public)
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
        before = private.read_bytes()
        assert not generate_seal_key(private, public)
        assert private.read_bytes() == before
        sealer = Sealer(load_public_key(public))
        opener = opener_from(SecretSettings(seal_private_key_files=[private]))
        assert opener is not None
        assert opener.open(sealer.seal(b"x")) == b"x"

    def test_settings_decide_who_seals_and_opens(self, tmp_path: Path) -> None:
        """Sealing is off by default; missing private keys are skipped unless one is required;
        a key of the wrong type is a configuration error."""
        private, public = tmp_path / "seal.pem", tmp_path / "seal.pub.pem"
        missing = tmp_path / "missing.pem"
        off = SecretSettings(seal_public_key_file=public, seal_private_key_files=[missing])
        assert sealer_from(off) is None
        assert opener_from(off) is None
        with pytest.raises(ConfigError, match="seal_private_key_files"):
            opener_from(off, required=True)
        with pytest.raises(ConfigError, match="seal_public_key_file"):
            sealer_from(off.model_copy(update={"seal_credentials": True}))
        generate_seal_key(private, public)
        on = SecretSettings(
            seal_credentials=True, seal_public_key_file=public, seal_private_key_files=[missing]
        )
        assert sealer_from(on) is not None
        ed25519 = tmp_path / "decisions.pem"
        generate_signing_key(ed25519)
        with pytest.raises(ConfigError, match="not an X25519"):
            opener_from(SecretSettings(seal_private_key_files=[ed25519]))

    def test_secrets_init_creates_the_sealing_key(self, tmp_path: Path) -> None:
        """`restguard secrets init` creates the sealing pair beside the other secrets."""
        settings = Settings.model_validate(
            {
                "secrets": {
                    "fingerprint_secret_file": str(tmp_path / "fingerprint.key"),
                    "seal_public_key_file": str(tmp_path / "seal.pub.pem"),
                    "seal_private_key_files": [str(tmp_path / "seal.pem")],
                },
                "decisions": {"signing_key_file": str(tmp_path / "decisions.pem")},
            }
        )
        created = ensure_local_secrets(settings)
        assert any("sealing key" in c for c in created)
        assert stat.S_IMODE(os.stat(tmp_path / "seal.pem").st_mode) == 0o600
        assert load_public_key(tmp_path / "seal.pub.pem")
        assert ensure_local_secrets(settings) == []


class TestSealEvent:
    def test_no_credential_left_in_the_sealed_event(
        self, seal: EventSealer, sample: list[dict[str, Any]]
    ) -> None:
        """No raw credential of the sample is in the bytes of its sealed events."""
        secrets = set().union(*(raw_credentials(e) for e in sample))
        assert len(secrets) > 50
        wire = b"\n".join(
            seal.seal(RequestEvent.model_validate(e)).model_dump_json().encode() for e in sample
        ).decode()
        leaked = [s for s in secrets if s in wire]
        assert not leaked, f"{len(leaked)} raw credentials in the sealed events"

    def test_opening_restores_the_event_exactly(
        self, seal: EventSealer, key: X25519PrivateKey, sample: list[dict[str, Any]]
    ) -> None:
        """open(seal(event)) is the event, field for field, for every event of the sample."""
        opener = Opener([key])
        for data in sample:
            original = RequestEvent.model_validate(data)
            sealed = seal.seal(original)
            opened = open_event(RequestEvent.model_validate_json(sealed.model_dump_json()), opener)
            assert opened == original
            assert opened.model_dump_json() == original.model_dump_json()

    def test_every_credential_place_is_sealed(self, seal: EventSealer) -> None:
        """Authorization, Proxy-Authorization, cookies, API-key headers, headers named like
        secrets and secret query parameters are sealed; the rest stays readable."""
        sealed = seal.seal(
            event(
                headers={
                    "Authorization": "Bearer abc.def.ghi",
                    "Proxy-Authorization": "Basic cHJveHk6cHc=",
                    "Cookie": "JSESSIONID=0123456789",
                    "X-API-Key": "k-123456",
                    "X-Auth-Token": "t-123456",
                    "X-Forwarded-For": "10.9.9.9",
                    "Accept": "application/json",
                    ":auth-scheme": "basic",
                },
                query="os_username=alice&os_password=hunter22&expand=names&api_key=zzz",
            )
        )
        assert sealed.headers == {
            "x-forwarded-for": "10.9.9.9",
            "accept": "application/json",
            ":auth-scheme": "basic",
        }
        assert (
            sealed.query == "os_username=alice&os_password=REDACTED&expand=names&api_key=REDACTED"
        )
        assert sealed.sealed is not None

    def test_settings_name_more_api_key_headers(self, key: X25519PrivateKey) -> None:
        """An API-key header from classifier.api_key_headers is sealed too."""
        settings = Settings.model_validate({"classifier": {"api_key_headers": ["X-Jira-Key"]}})
        seal = EventSealer(
            Sealer(key.public_key()), CredentialParts.from_settings(settings.classifier)
        )
        assert seal.seal(event(headers={"x-jira-key": "abcdef"})).headers == {}

    def test_event_without_credentials_is_unchanged(self, seal: EventSealer) -> None:
        """An event with no credential is sent exactly as it would be without sealing."""
        plain = event(headers={"accept": "*/*"}, query="expand=names")
        assert seal.seal(plain) is plain
        assert b"sealed" not in plain.model_dump_json(exclude_none=True).encode()

    def test_unsealed_events_open_as_themselves(self, key: X25519PrivateKey) -> None:
        """Opening an unsealed event returns it unchanged, with or without an opener."""
        plain = event(headers={"authorization": "Basic YWxpY2U6czNjcmV0"})
        assert open_event(plain, Opener([key])) is plain
        assert open_event(plain, None) is plain

    def test_already_sealed_event_with_clear_credentials(self, seal: EventSealer) -> None:
        """A sealed event is passed on as is, unless it also carries credentials in clear."""
        sealed = seal.seal(event(headers={"authorization": "Basic YWxpY2U6czNjcmV0"}))
        assert seal.seal(sealed) is sealed
        both = sealed.model_copy(update={"headers": {"cookie": "JSESSIONID=0123456789"}})
        with pytest.raises(SealFormatError):
            seal.seal(both)

    def test_sealed_header_also_in_clear(self, seal: EventSealer, key: X25519PrivateKey) -> None:
        """A header both in the box and in clear is refused, not silently merged."""
        sealed = seal.seal(event(headers={"authorization": "Basic YWxpY2U6czNjcmV0"}))
        forged = sealed.model_copy(update={"headers": {"authorization": "Bearer other"}})
        with pytest.raises(SealFormatError, match="also in clear"):
            open_event(forged, Opener([key]))

    @pytest.mark.parametrize(
        "content",
        [
            b"not json",
            b"[]",
            b'{"h": []}',
            b'{"h": {"authorization": 1}}',
            b'{"h": {}, "q": 5}',
            b'{"h": {}, "extra": "x"}',
            orjson.dumps({"h": {f"x-token-{i}": "v" for i in range(MAX_HEADERS + 1)}}),
            orjson.dumps({"h": {"authorization": "x" * 40_000}}),
            orjson.dumps({"h": {}, "q": "a=" + "x" * 40_000}),
        ],
    )
    def test_forged_box_content_is_validated(self, key: X25519PrivateKey, content: bytes) -> None:
        """Anyone with the public key can seal: the content is held to the event contract."""
        plain = event()
        box = Sealer(key.public_key()).seal(content, plain.event_id.encode())
        with pytest.raises(SealFormatError):
            open_event(plain.model_copy(update={"sealed": box}), Opener([key]))


class TestParseStep:
    def test_sealed_events_judge_like_unsealed_ones(
        self,
        seal: EventSealer,
        key: X25519PrivateKey,
        processor: Processor,
        sample: list[dict[str, Any]],
    ) -> None:
        """The audit lines of sealed events, opened in the parse step, are byte for byte those
        of the same events unsealed: same schemes, fingerprints, outcomes, redacted queries."""
        events = [RequestEvent.model_validate(e) for e in sample]
        plain = [e.model_dump_json(exclude_none=True).encode() for e in events]
        sealed = [seal.seal(e).model_dump_json(exclude_none=True).encode() for e in events]
        want = classify_records([SourceRecord(pack(plain), "req")], processor, NOW)
        got = classify_records(
            [SourceRecord(pack(sealed), "req")], processor, NOW, opener=Opener([key])
        )
        assert got.dead == []
        assert len(got.audit_lines) == len(sample)
        assert got.audit_lines == want.audit_lines

    def test_unopenable_events_are_dead_letters(
        self, seal: EventSealer, key: X25519PrivateKey
    ) -> None:
        """Sealed for another key, tampered, or with no key held: each such event is a dead
        letter with its reason and place, without its credential; the others go on."""
        secret = "Basic YWxpY2U6czNjcmV0"
        other = EventSealer(Sealer(X25519PrivateKey.generate().public_key()), seal.parts)
        good = seal.seal(event(event_id="ok-1", headers={"authorization": secret}))
        foreign = other.seal(event(event_id="foreign", headers={"authorization": secret}))
        moved = good.model_copy(update={"event_id": "moved"})
        plain = event(event_id="plain")
        lines = [e.model_dump_json().encode() for e in (good, foreign, moved, plain)]
        out = parse_records(
            [SourceRecord(pack(lines), "req", partition=3, offset=17)], Opener([key])
        )
        assert [e.event_id for e in out.events] == ["ok-1", "plain"]
        assert out.events[0].headers == {"authorization": secret}
        assert [(d.line, d.error) for d in out.dead] == [
            (1, "UnknownSealKeyError"),
            (2, "SealTamperedError"),
        ]
        assert "not held here" in out.dead[0].reason
        assert all(d.partition == 3 and d.offset == 17 for d in out.dead)
        assert "YWxpY2U6czNjcmV0" not in orjson.dumps([d.model_dump() for d in out.dead]).decode()

        without = parse_records([SourceRecord(pack(lines), "req")])
        assert [e.event_id for e in without.events] == ["plain"]
        assert {d.error for d in without.dead} == {"UnknownSealKeyError"}


class _ListSink:
    """A Kafka stand-in that keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def send(self, topic: str, value: bytes | None, key: bytes | None = None) -> None:
        self.sent.append((topic, value or b""))

    def flush(self, timeout_s: float = 60.0) -> None:
        return None


class TestIngest:
    def test_ingest_seals_when_configured(
        self, tmp_path: Path, sample: list[dict[str, Any]]
    ) -> None:
        """With secrets.seal_credentials, ingest's packs hold no raw credential, the workers'
        keys open every event, and a bad line is still a dead letter."""
        private, public = tmp_path / "seal.pem", tmp_path / "seal.pub.pem"
        generate_seal_key(private, public)
        settings = Settings.model_validate(
            {
                "secrets": {
                    "seal_credentials": True,
                    "seal_public_key_file": str(public),
                    "seal_private_key_files": [str(private)],
                }
            }
        )
        assert gateway_sealer(settings) is not None
        lines = [Line(i, orjson.dumps(e)) for i, e in enumerate(sample, 1)]
        lines.append(Line(len(lines) + 1, b'{"headers": {"authorization": "Basic x"}}'))
        sink = _ListSink()
        summary = ingest(lines, sink, settings, fmt="json", source="s.jsonl")
        assert (summary.events, summary.dead) == (len(sample), 1)
        requests = [v for t, v in sink.sent if t == settings.topics.requests]
        wire = b"\n".join(requests).decode()
        secrets = set().union(*(raw_credentials(e) for e in sample))
        assert not [s for s in secrets if s in wire]
        opener = opener_from(settings.secrets, required=True)
        out = parse_records([SourceRecord(r, "req") for r in requests], opener)
        assert out.dead == []
        parse = parser_for("json")
        assert out.events == [to_event(line, parse, "s.jsonl") for line in lines[:-1]]
