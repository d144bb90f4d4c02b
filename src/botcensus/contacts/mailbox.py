"""abuse-mailbox values as RIPE data and contact tables write them -> the addresses they name.

An abuse-mailbox should hold one address, but real RIPE data also has the display-name form
(`abuse@x  <abuse@x>`), comments (`abuse@x (preferred)`), a trailing comma, two addresses
(after a comma or a space) and quoted local parts (`"r:[/r/]*4;e'*&m'"@fenix.international`).
A value is cut into words outside quotes, comments and angle brackets; each address is
checked by the standard library's RFC 5322 parser (`email.headerregistry.Address`) and its
domain as a host name (IDNA), then normalised to lower case (IntelMQ's `source.abuse_contact`
is lower case). Several addresses are kept, in order, joined as an address list ("a, b", as
`email.utils.getaddresses` reads it back). A value that names no address, or something that
is not one, is refused with the reason: the object or row goes to quarantine, never a guess.
"""

from __future__ import annotations

import re
from email.errors import HeaderParseError, MessageDefect
from email.headerregistry import Address
from typing import Final

SEPARATORS: Final = ",;"
LIST_SEPARATOR: Final = ", "
MAX_LOCAL: Final = 64
MAX_ADDRESS: Final = 254
"""RFC 5321's limits (4.5.3.1): longer addresses are refused by mail servers anyway."""
SHOWN: Final = 80
"""A refused value is quoted in the message up to this many characters."""


def _show(text: str) -> str:
    return repr(text) if len(text) <= SHOWN else repr(text[:SHOWN]) + "…"


_LABEL: Final = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


class _Group:
    """Words between two separators, and the <angle> address among them, if any."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.angle: list[str] = []


def _groups(text: str) -> list[_Group]:
    """Cut a value into groups (at commas and semicolons outside quotes, comments and angle
    brackets) of words (at spaces) and angle addresses; comments are dropped. Raises
    ValueError for an unclosed quote, comment or angle bracket."""
    groups, group, word = [], _Group(), ""
    depth, quoted, angle, escaped = 0, False, None, False
    for char in text:
        if escaped:
            escaped = False
        elif quoted:
            quoted = char != '"'
            escaped = char == "\\"
        elif depth:
            depth += {"(": 1, ")": -1}.get(char, 0)
            continue
        elif angle is not None:
            if char == ">":
                group.angle.append(angle)
                angle = None
                continue
            if char == "<":
                raise ValueError("'<' inside an angle address")
            angle += char
            continue
        elif char == '"':
            quoted = True
        elif char == "(":
            depth = 1
            continue
        elif char == "<":
            angle = ""
            continue
        elif char.isspace() or char in SEPARATORS:
            if word:
                group.words.append(word)
                word = ""
            if char in SEPARATORS:
                groups.append(group)
                group = _Group()
            continue
        word += char
    if quoted or depth or angle is not None:
        raise ValueError("an unclosed quote, comment or angle bracket")
    if word:
        group.words.append(word)
    return [*groups, group]


def _address(word: str) -> str:
    """The normalised address, or ValueError saying why `word` is not one."""
    try:
        parsed = Address(addr_spec=word)
    except (HeaderParseError, MessageDefect, ValueError, IndexError) as exc:
        raise ValueError(f"{_show(word)} is not an address ({exc})") from None
    domain = parsed.domain.lower()
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{_show(word)}: domain {_show(domain)} is not a host name") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or len(ascii_domain) > 253 or not all(map(_LABEL.fullmatch, labels)):
        raise ValueError(f"{_show(word)}: domain {_show(domain)} is not a host name")
    address = str(parsed.addr_spec).lower()
    if not parsed.username:
        raise ValueError(f"{_show(word)} has no local part")
    if len(address.split("@")[0]) > MAX_LOCAL or len(address) > MAX_ADDRESS:
        raise ValueError(f"{_show(word)} is longer than a mail address may be")
    return address


def mailboxes(text: str) -> list[str]:
    """The addresses an abuse-mailbox value names (at least one), normalised and without
    repeats. Raises ValueError naming the value and what is wrong with it."""
    try:
        found: list[str] = []
        for group in _groups(text):
            if len(group.angle) > 1:
                raise ValueError("two angle addresses without a comma between them")
            if group.angle:
                address = _address(group.angle[0])
                named = [w for w in group.words if "@" in w]
                # `abuse@x <abuse@x>` repeats the address as its display name: the same one.
                if any(_address(w) != address for w in named):
                    raise ValueError("a display name that is another address")
                found.append(address)
            else:
                found.extend(_address(w) for w in group.words)
        if not found:
            raise ValueError("no address")
    except ValueError as exc:
        why = str(exc)
        shown = _show(text)
        raise ValueError(why if why.startswith(shown) else f"{shown}: {why}") from None
    return list(dict.fromkeys(found))


def mailbox_list(text: str) -> str:
    """`mailboxes` as the one text a contact record keeps: 'a@x, b@y'."""
    return LIST_SEPARATOR.join(mailboxes(text))
