"""Password and token hashing: scrypt with a fresh salt, checked in constant time; sha256 for tokens."""

from __future__ import annotations

import hashlib

import pytest

from bot.auth.passwords import SCRYPT_N, SCRYPT_P, SCRYPT_R, b64, hash_password, token_digest, unb64, verify_password


def test_a_hash_names_its_parameters_and_has_a_fresh_salt():
    first, second = hash_password("correct horse battery"), hash_password("correct horse battery")
    scheme, n, r, p, salt, digest = first.split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", SCRYPT_N, SCRYPT_R, SCRYPT_P)
    assert len(unb64(salt)) == 16 and len(unb64(digest)) == 32
    assert first != second  # the same password, two salts
    assert verify_password("correct horse battery", first) and verify_password("correct horse battery", second)


@pytest.mark.parametrize("attempt", ["correct horse batterY", "correct horse battery ", "", "correct"])
def test_any_other_password_is_refused(attempt):
    assert not verify_password(attempt, hash_password("correct horse battery"))


def test_a_hash_made_with_other_parameters_still_verifies():
    """Stored hashes carry their own n, r, p: raising the cost later keeps old users signing in."""
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"old password", salt=salt, n=2**10, r=8, p=1, dklen=32)
    stored = f"scrypt${2**10}$8$1${b64(salt)}${b64(digest)}"
    assert verify_password("old password", stored) and not verify_password("new password", stored)


@pytest.mark.parametrize("stored", [
    "", "not-a-hash", "scrypt$16384$8$1$salt", "bcrypt$16384$8$1$c2FsdA$ZGlnZXN0",
    "scrypt$many$8$1$c2FsdA$ZGlnZXN0", "scrypt$16384$8$1$!!!$ZGlnZXN0", "scrypt$3$8$1$c2FsdA$ZGlnZXN0",
])
def test_a_stored_value_that_is_not_a_hash_never_verifies(stored):
    assert verify_password("anything", stored) is False


@pytest.mark.parametrize("password", ["pässwörd ünïcode", "emoji 🔑🔑🔑", "bad byte \udcff from a C locale"])
def test_any_text_can_be_a_password(password):
    """Including a lone surrogate, which is what Python makes of a non-UTF-8 byte read from stdin
    under a C locale (`bot users add --password-stdin`)."""
    stored = hash_password(password)
    assert verify_password(password, stored) and not verify_password(password + "x", stored)


def test_a_token_digest_is_its_sha256():
    assert token_digest("nb_abc") == hashlib.sha256(b"nb_abc").hexdigest()


def test_unpadded_base64_round_trips():
    for raw in (b"", b"a", b"ab", b"abc", bytes(range(256))):
        assert "=" not in b64(raw) and unb64(b64(raw)) == raw


def test_doctests():
    import doctest

    import bot.auth.passwords

    result = doctest.testmod(bot.auth.passwords)
    assert result.failed == 0 and result.attempted > 0
