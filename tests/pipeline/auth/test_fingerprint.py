"""Keyed fingerprints."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from pipeline.auth.fingerprint import Fingerprinter, is_fingerprint
from tests.conftest import TEST_SECRET


class TestFingerprinter:
    def test_is_hmac_sha256_of_the_material(self) -> None:
        """The value is HMAC-SHA256(secret, material), hex, prefixed: not a plain hash."""
        expected = hmac.new(TEST_SECRET, b"alice:s3cret", hashlib.sha256).hexdigest()[:32]
        assert Fingerprinter(TEST_SECRET)("alice:s3cret") == f"hmac-sha256:{expected}"
        assert hashlib.sha256(b"alice:s3cret").hexdigest()[:32] != expected

    def test_depends_on_the_secret(self) -> None:
        """Two deployments with different secrets cannot correlate fingerprints."""
        a = Fingerprinter(TEST_SECRET)("token")
        b = Fingerprinter(b"another-secret-of-enough-length")("token")
        assert a != b

    def test_short_secret_is_refused(self) -> None:
        """A secret under 16 bytes is an error, not a weak key."""
        with pytest.raises(ValueError, match="16 bytes"):
            Fingerprinter(b"short")

    def test_repr_hides_the_secret(self) -> None:
        """The secret never shows up in a repr or a log line."""
        assert TEST_SECRET.decode() not in repr(Fingerprinter(TEST_SECRET))

    def test_shape(self) -> None:
        """is_fingerprint accepts our values and nothing else."""
        assert is_fingerprint(Fingerprinter(TEST_SECRET)("x"))
        assert not is_fingerprint("sha256:abc")
        assert not is_fingerprint("hmac-sha256:" + "z" * 32)
