"""Password and token hashing: scrypt for passwords, sha256 for random tokens.

    >>> stored = hash_password("correct horse battery staple")
    >>> verify_password("correct horse battery staple", stored), verify_password("wrong", stored)
    (True, False)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # 16 MiB and ~50 ms per check: OWASP's floor for scrypt


def hash_password(password: str) -> str:
    """An scrypt hash with a fresh salt, as stored in the users file."""
    salt = secrets.token_bytes(16)
    # surrogatepass, as verify_password reads it: a non-UTF-8 byte read under a C locale arrives
    # as a lone surrogate, and must hash rather than raise
    digest = hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=salt, n=SCRYPT_N, r=SCRYPT_R,
                            p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt)}${b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches the stored scrypt hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = unb64(digest)
        got = hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=unb64(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(expected), maxmem=256 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
