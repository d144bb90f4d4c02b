"""OpenPGP signatures for mails (RFC 3156): a detached, ASCII-armoured signature over the
signed part, made by GnuPG through python-gnupg."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from botcensus.notify.rules import Signing


class SigningError(RuntimeError):
    """GnuPG could not sign: the message says why (no gpg, no such key, wrong passphrase)."""


class Signer:
    """Signs with one key of one GnuPG home; checks both exist when it is made."""

    micalg = "pgp-sha256"

    def __init__(self, settings: Signing) -> None:
        import gnupg  # type: ignore[import-untyped]  # python-gnupg ships no type information

        binary = shutil.which("gpg")
        if binary is None:
            raise SigningError("gpg is not installed (Debian: apt-get install gnupg)")
        home = str(settings.gnupg_home) if settings.gnupg_home else None
        if home is not None and not Path(home).is_dir():
            raise SigningError(f"gnupg_home {home}: no such directory")
        self.gpg = gnupg.GPG(gpgbinary=binary, gnupghome=home)
        self.key = settings.key
        self.passphrase = (
            os.environ.get(settings.passphrase_env, "") if settings.passphrase_env else None
        )
        keys = self.gpg.list_keys(secret=True)
        if not any(self.key in (k["fingerprint"], k["keyid"], " ".join(k["uids"])) or
                   any(self.key in uid for uid in k["uids"]) for k in keys):  # fmt: skip
            raise SigningError(f"no secret key {self.key!r} in {home or 'the default GnuPG home'}")

    def sign(self, data: bytes) -> bytes:
        """A detached ASCII-armoured signature of `data` (SHA-256)."""
        result = self.gpg.sign(
            data,
            keyid=self.key,
            detach=True,
            clearsign=False,
            binary=False,
            passphrase=self.passphrase,
            extra_args=["--digest-algo", "SHA256"]
            + (["--pinentry-mode", "loopback"] if self.passphrase is not None else []),
        )
        if not result.data:
            raise SigningError(f"gpg did not sign: {result.status or result.stderr.strip()[-300:]}")
        return bytes(result.data)
