"""OpenPGP-signed mails (RFC 3156), with a key generated here by Debian's gnupg: the signature
GnuPG makes verifies over the part as received, and fails once a byte of it changes."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import gnupg  # type: ignore[import-untyped]
import pytest
from notify_cases import RUN, make_dataset, need_tool, rules_file

from botcensus.notify import SigningError, load_rules, relay_address, send
from botcensus.notify.loopback import LoopbackSmtp
from botcensus.notify.rules import Signing
from botcensus.notify.sign import Signer

UID = "Example Sinkhole <reports@sinkhole.example.org>"


@pytest.fixture(scope="module")
def gnupg_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A GnuPG home with a fresh ed25519 signing key; its agent is stopped afterwards."""
    gpg = need_tool("gpg", "gnupg")
    home = tmp_path_factory.mktemp("gpg")
    home.chmod(0o700)
    subprocess.run(
        [gpg, "--homedir", str(home), "--batch", "--passphrase", "", "--quick-gen-key", UID,
         "ed25519", "sign", "never"],
        check=True, capture_output=True,
    )  # fmt: skip
    keys = gnupg.GPG(gnupghome=str(home)).list_keys(secret=True)
    yield home, keys[0]["fingerprint"]
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)


def _signed_parts(raw: bytes) -> tuple[bytes, bytes, str]:
    """The signed part exactly as received, the signature, and the Content-Type header."""
    head, _, body = raw.partition(b"\r\n\r\n")
    header = re.search(rb"Content-Type: (multipart/signed;[^\r\n]*(?:\r\n\s[^\r\n]*)*)", head)
    assert header is not None
    content_type = header[1].decode()
    boundary = re.search(r'boundary="([^"]+)"', content_type)
    assert boundary is not None
    mark = f"--{boundary[1]}".encode()
    pieces = body.split(mark)
    signed = pieces[1].removeprefix(b"\r\n").removesuffix(b"\r\n")
    signature = pieces[2].split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n")
    return signed, signature, content_type


def test_a_signed_mail_verifies_with_gnupg(tmp_path: Path, gnupg_home: tuple[Path, str]) -> None:
    home, fingerprint = gnupg_home
    data = make_dataset(tmp_path / "data")
    rules = load_rules(rules_file(tmp_path / "rules.toml"))
    rules = rules.model_copy(update={"signing": Signing(key=fingerprint, gnupg_home=home)})
    with LoopbackSmtp() as server:
        result = send(data, rules, RUN, relay_address(rules, ("127.0.0.1", server.port)))
        received = server.received()
    assert result.delivery is not None
    assert len(result.delivery.sent) == len(received) == 6
    gpg = gnupg.GPG(gnupghome=str(home))
    for message in received:
        signed, signature, content_type = _signed_parts(message.content)
        assert 'protocol="application/pgp-signature"' in content_type
        assert 'micalg="pgp-sha256"' in content_type
        assert signed.startswith(b"Content-Type: multipart/mixed;")
        sig_file = tmp_path / "signature.asc"
        sig_file.write_bytes(signature)
        verified = gpg.verify_data(str(sig_file), signed)
        assert verified.valid, verified.status
        assert verified.fingerprint == fingerprint
        tampered = signed.replace(b"rustock", b"rustocK", 1)
        assert not gpg.verify_data(str(sig_file), tampered).valid


def test_a_key_that_is_not_there_is_named(gnupg_home: tuple[Path, str]) -> None:
    home, _ = gnupg_home
    with pytest.raises(SigningError, match=r"no secret key 'nobody@example\.org'"):
        Signer(Signing(key="nobody@example.org", gnupg_home=home))


def test_a_gnupg_home_that_is_not_there_is_named(tmp_path: Path) -> None:
    need_tool("gpg", "gnupg")
    with pytest.raises(SigningError, match="no such directory"):
        Signer(Signing(key="x", gnupg_home=tmp_path / "none"))
