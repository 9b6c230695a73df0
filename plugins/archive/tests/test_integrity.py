"""A damaged, tampered, truncated or too-new file is refused before anything is written."""

from __future__ import annotations

import json
import stat
from typing import TYPE_CHECKING

import pytest
from scs_archive import importer, signing
from scs_server.errors import ScsError

from .conftest import export_text, import_text, records, row_counts, seed

if TYPE_CHECKING:
    from pathlib import Path

    from scs_server.testing import ServerFactory


async def _source_and_target(scs_factory: ServerFactory) -> tuple[str, object]:
    source = await scs_factory()
    await seed(source, sessions=2, messages=6)
    return await export_text(source.app), (await scs_factory()).app


async def test_a_malformed_line_is_reported_by_number_and_nothing_is_written(
    scs_factory: ServerFactory, tmp_path: Path
) -> None:
    text, target = await _source_and_target(scs_factory)
    lines = text.split("\n")
    before = await row_counts(target)  # type: ignore[arg-type]
    # the last message of the last session: every document before it is valid
    n = max(i for i, line in enumerate(lines) if line.startswith('{"kind":"message"'))
    bad_json = lines[:]
    bad_json[n] = bad_json[n][:-5] + "oops"
    with pytest.raises(ScsError, match=f"line {n + 1}: not valid JSON"):
        await import_text(target, "\n".join(bad_json), tmp_path / "a.ndjson")  # type: ignore[arg-type]
    bad_record = lines[:]
    record = json.loads(bad_record[n])
    assert record["kind"] == "message"
    record["visibility"] = "everyone"
    bad_record[n] = json.dumps(record)
    with pytest.raises(ScsError, match=f"line {n + 1}: message.visibility"):
        await import_text(target, "\n".join(bad_record), tmp_path / "b.ndjson")  # type: ignore[arg-type]
    unknown = lines[:]
    unknown.insert(-2, json.dumps({"kind": "hologram"}))
    header = json.loads(unknown[0])
    header["records"] += 1
    header["counts"]["hologram"] = 1
    unknown[0] = json.dumps(header)
    with pytest.raises(ScsError, match=f"line {len(unknown) - 2}: no enabled plugin imports"):
        await import_text(target, "\n".join(unknown), tmp_path / "c.ndjson")  # type: ignore[arg-type]
    assert await row_counts(target) == before  # type: ignore[arg-type]


async def test_truncated_padded_and_newer_files_are_refused(
    scs_factory: ServerFactory, tmp_path: Path
) -> None:
    text, target = await _source_and_target(scs_factory)
    before = await row_counts(target)  # type: ignore[arg-type]
    lines = text.split("\n")
    with pytest.raises(ScsError, match="announces"):
        await import_text(target, "\n".join(lines[:-4]) + "\n", tmp_path / "t.ndjson")  # type: ignore[arg-type]
    with pytest.raises(ScsError, match="cut short"):
        await import_text(target, text[:-10], tmp_path / "u.ndjson")  # type: ignore[arg-type]
    with pytest.raises(ScsError, match="announces"):
        await import_text(target, text + lines[-2] + "\n", tmp_path / "p.ndjson")  # type: ignore[arg-type]
    header = json.loads(lines[0])
    header["format"] = 99
    newer = "\n".join([json.dumps(header), *lines[1:]])
    with pytest.raises(ScsError, match="archive format 99 is newer than this scs understands"):
        await import_text(target, newer, tmp_path / "n.ndjson")  # type: ignore[arg-type]
    assert await row_counts(target) == before  # type: ignore[arg-type]


async def test_dry_run_checks_everything_and_writes_nothing(
    scs_factory: ServerFactory, tmp_path: Path
) -> None:
    text, target = await _source_and_target(scs_factory)
    before = await row_counts(target)  # type: ignore[arg-type]
    report = await import_text(target, text, tmp_path / "d.ndjson", dry_run=True)  # type: ignore[arg-type]
    assert report.records["message"] == 12
    assert report.records["session"] == 2
    assert sum(report.imported.values()) == 0
    assert await row_counts(target) == before  # type: ignore[arg-type]


async def test_signed_file_verifies_and_a_tampered_one_is_refused(
    scs_factory: ServerFactory, tmp_path: Path
) -> None:
    text, target = await _source_and_target(scs_factory)
    path = tmp_path / "signed.ndjson"
    path.write_text(text, encoding="utf-8")
    key = tmp_path / "keys" / "archive.key"
    key.parent.mkdir()
    signing.sign(path, key)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    signing.verify(path, key.with_name("archive.key.pub"))  # intact: accepted

    before = await row_counts(target)  # type: ignore[arg-type]
    raw = bytearray(path.read_bytes())
    at = raw.index(b"message 1")
    raw[at : at + 9] = b"MESSAGE 1"
    path.write_bytes(bytes(raw))
    with pytest.raises(ScsError, match="signature does not match"):
        signing.verify(path, key.with_name("archive.key.pub"))
    path.write_bytes(text.encode("utf-8")[:-30])
    with pytest.raises(ScsError, match="signature does not match"):
        signing.verify(path, key.with_name("archive.key.pub"))
    assert await row_counts(target) == before  # type: ignore[arg-type]
    # the untouched file with its signature imports
    path.write_text(text, encoding="utf-8")
    signing.verify(path, key.with_name("archive.key.pub"))
    report = await importer.run(target, path)  # type: ignore[arg-type]
    assert report.sessions_imported == 2
    assert len(records(text)) == 1 + sum(json.loads(text.split("\n")[0])["counts"].values())


async def test_a_record_in_the_wrong_session_document_is_refused_before_writing(
    scs_factory: ServerFactory, tmp_path: Path
) -> None:
    text, target = await _source_and_target(scs_factory)
    lines = text.split("\n")
    n = max(i for i, line in enumerate(lines) if line.startswith('{"kind":"message"'))
    record = json.loads(lines[n])
    first_session = json.loads(lines[1])["id"]
    assert record["session_id"] != first_session
    record["session_id"] = first_session  # in the second document, claims the first session
    lines[n] = json.dumps(record)
    before = await row_counts(target)  # type: ignore[arg-type]
    with pytest.raises(ScsError, match=f"line {n + 1}: message outside its session"):
        await import_text(target, "\n".join(lines), tmp_path / "w.ndjson")  # type: ignore[arg-type]
    assert await row_counts(target) == before  # type: ignore[arg-type]
