"""Decoder registry: the built-in family decoders, then the configured generic rules."""

from __future__ import annotations

from collections.abc import Sequence

from botcensus.config import GenericRule

from . import Decoded, Decoder, Request, generic, rustock

BUILTIN: tuple[tuple[str, Decoder], ...] = (("rustock", rustock.decode),)
"""(family, decoder) of each built-in decoder, in the order they are tried."""


def build_decoder(rules: Sequence[GenericRule]) -> Decoder:
    """One decoder trying the built-ins in order, then `rules`; None when none claims a request.

    Built at start-up. Raises ValueError for a rule whose pattern does not compile.
    """
    decoders = tuple(decode for _, decode in BUILTIN)
    if rules:
        decoders += (generic.make_decoder(rules),)
    if len(decoders) == 1:
        # The common deployment: nothing to chain, so no wrapper on the hot path.
        return decoders[0]

    def decode(request: Request) -> Decoded | None:
        for decoder in decoders:
            found = decoder(request)
            if found is not None:
                return found
        return None

    return decode
