"""RPSL as in the RIPE split files: blocks, comments, continuations, gzip, Latin-1, line numbers."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from botcensus.contacts.rpsl import RpslObject, iter_objects, read_blocks
from botcensus.contacts.store import Problem

CASES = Path(__file__).parent / "cases"
ALL = frozenset({"inetnum", "inet6num", "aut-num", "role", "organisation"})


def objects(tmp_path: Path, text: str | bytes, classes: frozenset[str] = ALL) -> list[object]:
    path = tmp_path / "sample"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return list(iter_objects(read_blocks(path), "sample", classes))


def test_objects_are_separated_by_blank_lines(tmp_path: Path) -> None:
    found = objects(tmp_path, "role: A\nnic-hdl: A1\n\n\n\nrole: B\nnic-hdl: B1\n")
    assert [(o.cls, o.key, o.line) for o in found if isinstance(o, RpslObject)] == [
        ("role", "A", 1),
        ("role", "B", 6),
    ]


def test_a_line_of_spaces_separates_objects_too(tmp_path: Path) -> None:
    found = objects(tmp_path, "role: A\nnic-hdl: A1\n   \t\nrole: B\nnic-hdl: B1")
    assert [o.key for o in found if isinstance(o, RpslObject)] == ["A", "B"]


def test_crlf_line_ends_are_read(tmp_path: Path) -> None:
    found = objects(tmp_path, "role: A\r\nnic-hdl: A1\r\n\r\nrole: B\r\nnic-hdl: B1\r\n")
    assert [o.value("nic-hdl") for o in found if isinstance(o, RpslObject)] == ["A1", "B1"]


def test_comment_lines_before_an_object_are_skipped_and_counted(tmp_path: Path) -> None:
    found = objects(tmp_path, "# header\n#\n% whois says\nrole: A\nnic-hdl: A1\n")
    assert len(found) == 1
    assert isinstance(found[0], RpslObject)
    assert (found[0].key, found[0].line) == ("A", 4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("org-name: Example\n+           GmbH\n", "Example GmbH"),
        ("org-name: Example\n            GmbH\n", "Example GmbH"),
        ("org-name: Example\n\tGmbH\n", "Example GmbH"),
        ("org-name: Example\n+\n+ GmbH\n", "Example GmbH"),
        ("org-name: Example GmbH # a comment\n", "Example GmbH"),
        ("ORG-NAME:Example GmbH\n", "Example GmbH"),
    ],
)
def test_continuations_comments_and_name_case(tmp_path: Path, text: str, expected: str) -> None:
    (found,) = objects(tmp_path, "organisation: ORG-A1-TEST\n" + text)
    assert isinstance(found, RpslObject)
    assert found.value("org-name") == expected
    assert found.values("org-name") == {"org-name": expected}


def test_the_first_of_repeated_attributes_counts(tmp_path: Path) -> None:
    (found,) = objects(tmp_path, "role: A\nnic-hdl: A1\nnic-hdl: A2\n")
    assert isinstance(found, RpslObject)
    assert found.value("nic-hdl") == "A1"
    assert found.attrs == [("role", "A"), ("nic-hdl", "A1"), ("nic-hdl", "A2")]


def test_an_empty_attribute_reads_as_absent(tmp_path: Path) -> None:
    (found,) = objects(tmp_path, "role: A\nabuse-mailbox:\nnic-hdl: A1\n")
    assert isinstance(found, RpslObject)
    assert found.value("abuse-mailbox") is None
    assert "abuse-mailbox" not in found.values("abuse-mailbox", "nic-hdl")


def test_objects_of_other_classes_are_skipped_unread(tmp_path: Path) -> None:
    text = "person: X\nthis would be malformed\n\nrole: A\nnic-hdl: A1\n"
    assert [o.cls for o in objects(tmp_path, text, frozenset({"role"}))] == ["role"]


def test_a_malformed_object_is_a_problem_with_its_file_and_lines(tmp_path: Path) -> None:
    text = (
        "role: A\nnic-hdl: A1\n\nrole: B\nnot an attribute\nnic-hdl: B1\n\nrole: C\nnic-hdl: C1\n"
    )
    found = objects(tmp_path, text)
    assert [o.key for o in found if isinstance(o, RpslObject)] == ["A", "C"]
    (problem,) = [o for o in found if isinstance(o, Problem)]
    assert (problem.file, problem.line) == ("sample", 4)
    assert "line 5" in problem.reason
    assert "not an attribute" in problem.text


def test_an_object_starting_with_a_continuation_is_a_problem(tmp_path: Path) -> None:
    (problem,) = objects(tmp_path, "   role: A\nnic-hdl: A1\n")
    assert isinstance(problem, Problem)
    assert problem.reason == "object does not start with an attribute"


def test_gzip_is_told_by_content_not_name(tmp_path: Path) -> None:
    text = b"role: A\nnic-hdl: A1\n"
    (tmp_path / "plain.gz").write_bytes(text)
    (tmp_path / "packed").write_bytes(gzip.compress(text))
    for name in ("plain.gz", "packed"):
        ((line, block),) = read_blocks(tmp_path / name)
        assert (line, block.rstrip()) == (1, "role: A\nnic-hdl: A1")


def test_latin1_text_is_read_where_it_is_not_utf8(tmp_path: Path) -> None:
    text = "organisation: ORG-A1-TEST\norg-name: Société Générale\n"
    (found,) = objects(tmp_path, text.encode("latin-1"))
    assert isinstance(found, RpslObject)
    assert found.value("org-name") == "Société Générale"


def test_utf8_text_stays_utf8(tmp_path: Path) -> None:
    (found,) = objects(tmp_path, "organisation: ORG-A1-TEST\norg-name: Société\n".encode())
    assert isinstance(found, RpslObject)
    assert found.value("org-name") == "Société"


def test_line_numbers_survive_block_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("botcensus.contacts.rpsl.BLOCK", 7)
    text = "".join(f"role: R{i}\nnic-hdl: H{i}\n\n" for i in range(50))
    found = objects(tmp_path, gzip.compress(text.encode()))
    assert [(o.key, o.line) for o in found if isinstance(o, RpslObject)] == [
        (f"R{i}", 3 * i + 1) for i in range(50)
    ]


def test_the_sample_files_read_the_same_plain_or_gzip(tmp_path: Path) -> None:
    for path in CASES.glob("ripe.db.*.gz"):
        plain = tmp_path / path.stem
        plain.write_bytes(gzip.decompress(path.read_bytes()))
        assert list(read_blocks(plain)) == list(read_blocks(path))
