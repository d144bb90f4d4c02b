"""Raw log rows of a segment turned into event columns all at once (the roll's bulk path).

The per-row path (record.RawDecoder.event) builds a 23-value tuple per request and leaves
pyarrow to convert them; at a few hundred thousand requests per segment that was most of the
roll's time. Here the rows' own values become Arrow columns in one conversion each, the
request bytes one binary column; the end of each head is found by one Arrow search, and
equal heads by one dictionary encoding. Each distinct head is parsed once, by the same
RawDecoder (so with the same parser and `read_head`), and its fields reach every row by one
`take`; only the body's SHA-256 is computed per row in Python. A row this path cannot take
(an unexpected value type, a head the decoder does not reuse, a body of another length than
its head announces) is left to the per-row path, so both give the same events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.capture.protocols import Request
from botcensus.capture.record import KnownHead, RawDecoder
from botcensus.model import EVENT_SCHEMA

Positions = npt.NDArray[np.int64]
_NONE = type(None)
_EXPECTED: tuple[frozenset[type], ...] = (
    frozenset({int}),  # time_us
    frozenset({int}),  # listener index
    frozenset({str}),  # source ip
    frozenset({int}),  # source port
    frozenset({str}),  # destination ip
    frozenset({int}),  # destination port
    frozenset({str, _NONE}),  # proxy peer
    frozenset({bytes}),  # the request
)
"""What the worker writes in a raw row. pyarrow would also take, say, a float for an int
or bytes for a string; the per-row path decides what becomes of such rows."""
_SCHEMA = {field.name: field.type for field in EVENT_SCHEMA}
_sha256 = hashlib.sha256


def raw_columns(
    rows: Sequence[Sequence[Any]], decoder: RawDecoder
) -> tuple[pa.Table, Positions] | None:
    """The events of the rows this path can take, as a table, and their positions in `rows`
    (increasing); the caller decodes the other rows one by one. None when the rows hold
    values of unexpected types or ranges (never written by a worker): the per-row path then
    decides about every row."""
    if not rows:
        return None
    columns = list(zip(*rows, strict=True))
    for values, expected in zip(columns, _EXPECTED, strict=True):
        if not set(map(type, values)) <= expected:
            return None
    cut = decoder.body_head_bytes
    if type(cut) is not int or cut < 0 or type(decoder.sensor) is not str:
        return None  # a damaged header: the per-row path says what becomes of each row
    names = [name for name, _ in decoder.listeners]
    statuses = [status for _, status in decoder.listeners]
    if not all(type(n) is str for n in names) or not all(type(s) is int for s in statuses):
        return None
    try:
        listener = np.array(columns[1], dtype=np.int64)
    except OverflowError:
        return None
    if listener.size and (listener.min() < 0 or listener.max() >= len(names)):
        return None  # the per-row path indexes a list: let it say what -1 or 7 means
    data = pa.array(columns[7], pa.large_binary())
    taken, head_index, knowns, splits = _split_heads(data, columns[7], decoder)
    if not len(taken):
        return None
    try:
        table = _table(
            columns, listener, data, taken, head_index, knowns, splits, decoder, names, statuses
        )
    except (pa.ArrowException, OverflowError, ValueError, TypeError):
        return None  # a value out of its column's range: the per-row path names the row
    return table, taken


def _split_heads(
    data: pa.LargeBinaryArray, requests: Sequence[bytes], decoder: RawDecoder
) -> tuple[Positions, Positions, list[KnownHead], Positions]:
    """The rows whose head the decoder reuses and whose body has the length that head
    announces: their positions, the index of each one's head in the list of distinct heads
    (the third value), and where each one's body starts."""
    offsets = _offsets(data)
    found, split, index, distinct = _heads(data, requests, offsets)
    starts = offsets[found]
    _, first = np.unique(index, return_index=True)  # the first row with each head
    knowns: list[KnownHead] = []
    renumber = np.full(len(distinct), -1, np.int64)
    body_lengths = np.full(len(distinct), -1, np.int64)
    for i, (head, row) in enumerate(zip(distinct, found[first].tolist(), strict=True)):
        known = decoder.known(head, requests[row])
        if known is not None:
            renumber[i] = len(knowns)
            body_lengths[i] = known.body_length
            knowns.append(known)
    lengths = offsets[found + 1] - starts - split
    keep = lengths == body_lengths[index]
    return found[keep], renumber[index[keep]], knowns, split[keep]


_PREFIX_TRIES = 8
"""Heads looked for as prefixes of every request before searching each one's blank line."""


def _heads(
    data: pa.LargeBinaryArray, requests: Sequence[bytes], offsets: Positions
) -> tuple[Positions, Positions, Positions, list[bytes]]:
    """The rows that hold a blank line (increasing), where each one's head ends, the index
    of its head in the list of distinct heads (the fourth value). A segment's requests share
    a few heads: each is found in one prefix comparison over all rows, much cheaper than
    searching every row for its blank line; the rows left after a few heads are searched."""
    n = len(requests)
    split = np.full(n, -1, np.int64)
    index = np.full(n, -1, np.int64)
    distinct: list[bytes] = []
    left = np.ones(n, np.bool_)
    for _ in range(_PREFIX_TRIES):
        rows = np.flatnonzero(left)
        if not len(rows):
            break
        first = requests[int(rows[0])]
        end = first.find(b"\r\n\r\n")
        if end < 0:
            break
        # A request starting with these bytes has its first blank line where `first` has.
        head = first[: end + 4]
        same = left & pc.starts_with(data, pattern=head).to_numpy(zero_copy_only=False)
        split[same] = len(head)
        index[same] = len(distinct)
        distinct.append(head)
        left &= ~same
    rest = np.flatnonzero(left)
    if len(rest):
        ends = pc.find_substring(data.take(pa.array(rest)), b"\r\n\r\n")
        at = ends.to_numpy(zero_copy_only=False).astype(np.int64)
        rows, cut = rest[at >= 0], at[at >= 0] + 4
        if len(rows):
            encoded = pc.dictionary_encode(_slices(data, offsets[rows], offsets[rows] + cut))
            split[rows] = cut
            index[rows] = encoded.indices.to_numpy(zero_copy_only=False) + len(distinct)
            distinct += encoded.dictionary.to_pylist()
    found = np.flatnonzero(split >= 0)
    return found, split[found], index[found], distinct


def _table(
    columns: list[tuple[Any, ...]],
    listener: npt.NDArray[np.int64],
    data: pa.LargeBinaryArray,
    taken: Positions,
    head_index: Positions,
    knowns: list[KnownHead],
    splits: Positions,
    decoder: RawDecoder,
    names: list[str],
    statuses: list[int],
) -> pa.Table:
    n = len(taken)
    everything = n == len(columns[0])
    rows = pa.array(taken) if not everything else None

    def column(values: tuple[Any, ...], name: str) -> pa.Array:
        array = pa.array(values, _SCHEMA[name])
        return array if rows is None else array.take(rows)

    offsets = _offsets(data)
    body_starts = offsets[taken] + splits
    body_lengths = offsets[taken + 1] - body_starts
    at_head = pa.array(head_index)
    heads = {
        name: pa.array([getattr(k.head, _ATTR.get(name, name)) for k in knowns], _SCHEMA[name])
        for name in _HEAD_FIELDS
    }
    at_listener = pa.array(listener[taken] if not everything else listener)
    bodies = columns[7] if everything else [columns[7][i] for i in taken.tolist()]
    families, bot_ids = _found(knowns, head_index, bodies, splits, decoder)
    cut = np.minimum(body_lengths, decoder.body_head_bytes)
    arrays = {
        "time_received": column(columns[0], "time_received"),
        "source_ip": column(columns[2], "source_ip"),
        "source_port": column(columns[3], "source_port"),
        "destination_ip": column(columns[4], "destination_ip"),
        "destination_port": column(columns[5], "destination_port"),
        "proxy_peer_ip": column(columns[6], "proxy_peer_ip"),
        "listener": pa.array(names, pa.string()).take(at_listener),
        "sensor": pa.array([decoder.sensor], pa.string()).take(pa.array(np.zeros(n, np.int64))),
        **{name: heads[name].take(at_head) for name in _HEAD_FIELDS},
        "body_length": pa.array(body_lengths, pa.int64()),
        "body_truncated": pa.array(np.zeros(n, np.bool_)),
        "body_sha256": pa.array(
            [_sha256(b[s:]).digest() for b, s in zip(bodies, splits.tolist(), strict=True)],
            pa.binary(32),
        ),
        "body_head": _slices(data, body_starts, body_starts + cut).cast(pa.binary()),
        "malware_family": families,
        "bot_id": bot_ids,
        "status": pa.array(statuses, pa.int16()).take(at_listener),
        "reject_reason": pa.nulls(n, pa.string()),
    }
    return pa.Table.from_arrays([arrays[f.name] for f in EVENT_SCHEMA], schema=EVENT_SCHEMA)


_HEAD_FIELDS = ("method", "host", "path", "query", "user_agent", "header_names", "content_length")
_ATTR = {"header_names": "names"}


def _found(
    knowns: list[KnownHead],
    head_index: Positions,
    bodies: Sequence[bytes],
    splits: Positions,
    decoder: RawDecoder,
) -> tuple[pa.Array, pa.Array]:
    """Family and bot id of each row: its head's answer, or, where a rule reads the bot id
    from the body, the decoder's answer on the row's own body."""
    answers = [known.found for known in knowns]
    if None not in answers:
        at_head = pa.array(head_index)
        families = pa.array([a[0] for a in answers if a is not None], pa.string())
        bot_ids = pa.array([a[1] for a in answers if a is not None], pa.string())
        return families.take(at_head), bot_ids.take(at_head)
    found_families: list[str | None] = []
    found_ids: list[str | None] = []
    rows = zip(head_index.tolist(), bodies, splits.tolist(), strict=True)
    for at, data, split in rows:
        known: KnownHead = knowns[at]  # `at` is Any (tolist), which would make `known` Any
        found = known.found
        if found is None:
            body = data[split:]
            decoded = decoder.decode(Request(*known.head.received, body, len(body)))
            found = (None, None) if decoded is None else (decoded.family, decoded.bot_id)
        found_families.append(found[0])
        found_ids.append(found[1])
    return pa.array(found_families, pa.string()), pa.array(found_ids, pa.string())


def _offsets(data: pa.LargeBinaryArray) -> npt.NDArray[np.int64]:
    buffer = data.buffers()[1]
    assert buffer is not None
    return np.frombuffer(buffer, np.int64)[data.offset : data.offset + len(data) + 1]


def _slices(data: pa.LargeBinaryArray, starts: Positions, ends: Positions) -> pa.Array:
    """Binary array of the value bytes [starts[i], ends[i]), ranges in increasing order and
    not overlapping: made over the values buffer with every gap as an element between
    two ranges, then the ranges taken (one copy, in C)."""
    n = len(starts)
    if n == 0:
        return pa.array([], pa.large_binary())
    offsets = np.empty(2 * n, np.int64)
    offsets[0::2] = starts
    offsets[1::2] = ends
    spans = pa.Array.from_buffers(
        pa.large_binary(), 2 * n - 1, [None, pa.py_buffer(offsets), data.buffers()[2]]
    )
    return spans.take(pa.array(np.arange(0, 2 * n - 1, 2, dtype=np.int64)))
