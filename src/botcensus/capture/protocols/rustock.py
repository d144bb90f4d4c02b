"""Rustock decoder: recognises the bot's 96-byte encrypted POST to login.php."""

# What is known, from public analyses of Rustock.C and of its March 2011 takedown (Microsoft's
# Operation b107): a bot opens each C&C session over plain HTTP with a POST to `login.php`
# carrying 96 bytes of encrypted data (the key exchange; Symantec reports RC4), and the server
# answers with 16 bytes before the bot asks for instructions. The payload is encrypted with
# per-session material, so nothing in it reads as a stable bot id.
#
# This is the conservative signature: method, path suffix and exact body length must all
# agree. It does not try to decrypt the body or to recognise the later instruction requests,
# whose formats are less well documented; a request that only half fits is left to the
# generic rules (or to no one) rather than counted as a Rustock check-in.

from __future__ import annotations

from . import Decoded, Request

FAMILY = "rustock"
"""malware.name of Rustock check-ins."""

BODY_LENGTH = 96
"""Bytes of the encrypted key-exchange body a Rustock bot POSTs to login.php."""

_CHECK_IN = Decoded(FAMILY, None)


def decode(request: Request) -> Decoded | None:
    """Rustock check-in (no readable bot id) for a 96-byte POST to a path ending in login.php."""
    # Cheapest test first: most sinkhole traffic fails the length check on one int comparison.
    if (
        request.body_length == BODY_LENGTH
        and request.method == "POST"
        and request.path.endswith("login.php")
    ):
        return _CHECK_IN
    return None
