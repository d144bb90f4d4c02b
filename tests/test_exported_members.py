"""Each stage face exports exactly its public names, no more and no fewer (as encode/httpx's
tests/test_exported_members.py): a name added to a face without __all__, or listed in
__all__ without being defined, fails."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

FACES = [
    "botcensus.measure",
    "botcensus.measure.hosts",
    "botcensus.measure.survival",
    "botcensus.measure.cleanup",
    "botcensus.contacts",
    "botcensus.demo",
    "botcensus.export",
    "botcensus.notify",
]


@pytest.mark.parametrize("name", FACES)
def test_all_public_members_are_exported(name: str) -> None:
    face = importlib.import_module(name)
    public = {
        member
        for member, value in vars(face).items()
        if not member.startswith("_") and not isinstance(value, ModuleType)
    } - {"annotations", "TYPE_CHECKING"}  # `from __future__ import annotations`
    lazy = getattr(face, "_LAZY", {})  # names loaded on first use (PEP 562)
    assert sorted(face.__all__) == sorted(public | set(lazy))
    for member in lazy:
        assert getattr(face, member) is not None
    assert len(set(face.__all__)) == len(face.__all__)
