"""FileSystemSerDes: modes, path encodings, previews, atomic writes and clear read errors."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
from typing import Any

import pytest

from durable_exec import (
    ChildConfig,
    Duration,
    MapConfig,
    RetryableSerDesError,
    SerDesContext,
    SerDesError,
    StepConfig,
    durable_execution,
)
from durable_exec.filesystem_serdes import (
    CHECKPOINT_SIZE_LIMIT_BYTES,
    FileSystemPathEncoding,
    FileSystemSerDes,
    FileSystemSerDesConfig,
    FileSystemSerDesMode,
)
from durable_exec.preview import PreviewConfig, PreviewField, PreviewMode, build_preview

ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/run-1/abc"
CONTEXT = SerDesContext("op-1", ARN)


def overflow(base: pathlib.Path, **kwargs: Any) -> FileSystemSerDes:
    return FileSystemSerDes(
        str(base), FileSystemSerDesConfig(storage_mode=FileSystemSerDesMode.OVERFLOW, **kwargs)
    )


def json_files(base: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in base.rglob("*") if p.is_file())


# -- through the public API, on the in-process service -------------------------------


def test_a_step_result_lives_in_a_file_and_replays_from_it(tmp_path, make_runner):
    """ALWAYS: the checkpoint holds a pointer; the value is read back from the file on replay."""
    fs = FileSystemSerDes(str(tmp_path))
    calls = []

    @durable_execution
    def handler(event, context):
        report = context.step(
            lambda _: calls.append(1) or {"rows": [1, 2, 3], "title": "t"},
            name="report",
            config=StepConfig(serdes=fs),
        )
        context.wait(Duration.from_seconds(1))
        return report

    result = make_runner(handler).run()
    assert result.status == "SUCCEEDED"
    assert result.result == {"rows": [1, 2, 3], "title": "t"}
    assert result.invocations == 2
    assert calls == [1]  # the second invocation replayed the step from its file
    pointer = json.loads(result.get_step("report").result)
    path = pathlib.Path(pointer["file"])
    assert path.parent.parent.parent.parent == tmp_path  # <fn>/<execution>/<invocation>
    assert path.name == f"{result.get_step('report').id}.json"
    assert fs.config.serdes.deserialize(path.read_text(), CONTEXT) == {
        "rows": [1, 2, 3],
        "title": "t",
    }


def test_overflow_keeps_small_values_inline_and_large_ones_in_files(tmp_path, make_runner):
    """OVERFLOW: a small child result is inline, a 300 KiB one goes to a file; both replay equal."""
    fs = overflow(tmp_path)

    @durable_execution
    def handler(event, context):
        small = context.run_in_child_context(
            lambda c: {"n": 1}, name="small", config=ChildConfig(serdes=fs)
        )
        big = context.run_in_child_context(
            lambda c: "x" * (300 * 1024), name="big", config=ChildConfig(serdes=fs)
        )
        context.wait(Duration.from_seconds(1))
        return [small, len(big)]

    result = make_runner(handler).run()
    assert (result.status, result.result) == ("SUCCEEDED", [{"n": 1}, 300 * 1024])
    small = json.loads(result.get_context("small").result)
    assert json.loads(small["data"]) == {"t": "m", "v": {"n": {"t": "i", "v": 1}}}
    big = json.loads(result.get_context("big").result)
    assert set(big) == {"file"}
    assert json_files(tmp_path) == [pathlib.Path(big["file"])]


def test_the_preview_is_stored_next_to_the_pointer(tmp_path, make_runner):
    """generate_preview's dict is written inline in the checkpoint, masked fields included."""
    config = PreviewConfig(
        PreviewMode.EXCLUDE_ALL, include=[PreviewField("status")], mask=[PreviewField("card")]
    )
    fs = FileSystemSerDes(
        str(tmp_path),
        FileSystemSerDesConfig(generate_preview=lambda value: build_preview(value, config)),
    )

    @durable_execution
    def handler(event, context):
        return context.step(
            lambda _: {"status": "paid", "card": "4111", "items": list(range(10))},
            name="pay",
            config=StepConfig(serdes=fs),
        )

    result = make_runner(handler).run()
    assert result.result["status"] == "paid"
    envelope = json.loads(result.get_step("pay").result)
    assert envelope["preview"] == {"status": "paid", "card": "***"}


def test_map_items_each_get_their_own_file(tmp_path, make_runner):
    """Each map item's result is a file named after the item's operation."""
    fs = FileSystemSerDes(
        str(tmp_path), FileSystemSerDesConfig(path_encoding=FileSystemPathEncoding.HASH)
    )

    @durable_execution
    def handler(event, context):
        batch = context.map(
            [1, 2, 3],
            lambda c, item, index, items: {"double": item * 2},
            name="double",
            config=MapConfig(item_serdes=fs),
        )
        return [r["double"] for r in batch.get_results()]

    result = make_runner(handler).run()
    assert result.result == [2, 4, 6]
    assert len(json_files(tmp_path)) == 3
    assert all(len(p.stem) == 64 and len(p.parent.name) == 64 for p in json_files(tmp_path))


def test_a_missing_file_fails_the_execution_naming_the_path_and_operation(tmp_path, make_runner):
    """When the file is gone at replay, the error says which file and which operation."""
    fs = FileSystemSerDes(str(tmp_path))

    @durable_execution
    def handler(event, context):
        if context.is_replaying():  # the second invocation: the file has been lost
            for file in json_files(tmp_path):
                file.unlink()
        value = context.step(lambda _: [1, 2], name="keep", config=StepConfig(serdes=fs))
        context.wait(Duration.from_seconds(60))
        return value

    result = make_runner(handler).run()
    assert result.status == "FAILED"
    path = json.loads(result.get_step("keep").result)["file"]
    message = result.error.message
    assert result.get_step("keep").id in message
    assert path in message
    assert "does not exist" in message


def test_reading_a_directory_where_the_file_was_is_a_clear_serdes_error(tmp_path):
    """An unreadable file is a SerDesError naming the path and the operation."""
    fs = FileSystemSerDes(str(tmp_path))
    envelope = fs.serialize({"a": 1}, CONTEXT)
    path = json.loads(envelope)["file"]
    pathlib.Path(path).unlink()
    pathlib.Path(path).mkdir()
    with pytest.raises(SerDesError) as caught:
        fs.deserialize(envelope, CONTEXT)
    assert path in str(caught.value)
    assert "op-1" in str(caught.value)


@pytest.mark.parametrize("data", ["not json", "[1, 2]", '{"other": 1}', '{"file": 7}'])
def test_a_checkpoint_that_is_not_an_envelope_is_a_serdes_error(tmp_path, data):
    """A payload written by another serdes is rejected with the operation named."""
    with pytest.raises(SerDesError, match="op-1"):
        FileSystemSerDes(str(tmp_path)).deserialize(data, CONTEXT)


# -- layout and the write path --------------------------------------------------------


def test_uri_layout_uses_the_arn_parts_and_the_encoded_operation_id(tmp_path):
    """URI: <base>/<function>/<execution>/<invocation>/<percent-encoded op id>.json."""
    fs = FileSystemSerDes(str(tmp_path))
    path = fs.path_for(SerDesContext("a/b c", ARN))
    assert path == str(tmp_path / "orders" / "run-1" / "abc" / "a%2Fb%20c.json")
    odd = fs.path_for(SerDesContext("x", "not-an-arn/with:parts"))
    assert odd == str(tmp_path / "not-an-arn%2Fwith%3Aparts" / "x.json")


def test_hash_layout_uses_sha256_names(tmp_path):
    """HASH: the ARN and the operation id each become their SHA-256 hex digest."""
    fs = FileSystemSerDes(
        str(tmp_path), FileSystemSerDesConfig(path_encoding=FileSystemPathEncoding.HASH)
    )
    digest = lambda text: hashlib.sha256(text.encode()).hexdigest()
    assert fs.path_for(CONTEXT) == str(tmp_path / digest(ARN) / f"{digest('op-1')}.json")


def test_an_arn_with_a_dot_dot_part_cannot_leave_the_base_directory(tmp_path):
    """URI layout refuses ARN parts that are '.' or '..'."""
    arn = "arn:aws:lambda:us-east-1:1:function:f:1/durable-execution/../x"
    with pytest.raises(SerDesError, match="HASH"):
        FileSystemSerDes(str(tmp_path)).serialize(1, SerDesContext("op", arn))


def test_overflow_threshold_is_just_under_the_checkpoint_limit(tmp_path):
    """A value whose inline envelope reaches the limit minus 1 KiB overflows to a file."""
    fs = overflow(tmp_path)
    fits = "y" * (CHECKPOINT_SIZE_LIMIT_BYTES - 1024 - len('{"data": "\\"\\""}'))
    assert "data" in json.loads(fs.serialize(fits, CONTEXT))
    assert "file" in json.loads(fs.serialize(fits + "y", CONTEXT))


def test_rewriting_a_file_is_atomic_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    """The data is fsynced before the rename; a failed rename keeps the old file intact."""
    fs = FileSystemSerDes(str(tmp_path))
    envelope = fs.serialize("first", CONTEXT)
    path = json.loads(envelope)["file"]
    order: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (order.append("fsync"), real_fsync(fd))[1])

    def failing_replace(src: str, dst: str) -> None:
        order.append("replace")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(RetryableSerDesError) as caught:
        fs.serialize("second", CONTEXT)
    assert path in str(caught.value)
    assert "op-1" in str(caught.value)
    assert order == ["fsync", "replace"]
    assert fs.deserialize(envelope, CONTEXT) == "first"
    assert [p.name for p in json_files(tmp_path)] == ["op-1.json"]
    monkeypatch.setattr(os, "replace", real_replace)
    assert fs.deserialize(fs.serialize("second", CONTEXT), CONTEXT) == "second"


def test_an_unwritable_base_path_asks_for_a_retry(tmp_path):
    """A write failure is a RetryableSerDesError: the invocation is retried, the step not failed."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(RetryableSerDesError, match="cannot write"):
        FileSystemSerDes(str(blocker)).serialize({"a": 1}, CONTEXT)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: FileSystemSerDes(""), "base path"),
        # Wrong types on purpose: each must be refused naming the setting.
        (lambda: FileSystemSerDes("/mnt", {"storage_mode": "ALWAYS"}), "FileSystemSerDesConfig"),  # type: ignore[arg-type]
        (lambda: FileSystemSerDesConfig(storage_mode="ALWAYS"), "storage_mode"),  # type: ignore[arg-type]
        (lambda: FileSystemSerDesConfig(path_encoding="HASH"), "path_encoding"),  # type: ignore[arg-type]
        (lambda: FileSystemSerDesConfig(generate_preview="yes"), "generate_preview"),  # type: ignore[arg-type]
        (lambda: FileSystemSerDesConfig(serdes=json), "serdes"),  # type: ignore[arg-type]
    ],
)
def test_invalid_options_are_rejected(build, message):
    """Every option is checked when the serdes is built."""
    with pytest.raises(ValueError, match=message):
        build()


def test_value_errors_of_the_inner_serdes_fail_the_step_without_writing(tmp_path, make_runner):
    """A value the inner serdes cannot encode fails the step; no file is written."""
    fs = FileSystemSerDes(str(tmp_path))

    @durable_execution
    def handler(event, context):
        return context.step(lambda _: object(), name="bad", config=StepConfig(serdes=fs))

    result = make_runner(handler).run()
    assert result.status == "FAILED"
    assert "Unsupported type" in result.error.message
    assert json_files(tmp_path) == []


HOSTILE = [
    "..",
    ".",
    "../../etc",
    "arn:aws:lambda:us-east-1:1:function:f:1/durable-execution/../x",
    "arn:aws:lambda:us-east-1:1:function:..:1/durable-execution/x/y",
    "arn:aws:lambda:us-east-1:1:function:f:1/durable-execution/x/..",
    "/absolute/path",
    "a\x00b",
    "A" * 300,
]


@pytest.mark.parametrize("encoding", list(FileSystemPathEncoding))
@pytest.mark.parametrize("arn", HOSTILE)
@pytest.mark.parametrize("op_id", ["op", "..", "../x", "/etc/passwd", "a\x00"])
def test_no_arn_or_operation_id_leaves_the_base_directory(tmp_path, encoding, arn, op_id):
    """Hostile ids either land under the base directory or are refused with a SerDesError."""
    base = tmp_path / "base"
    fs = FileSystemSerDes(str(base), FileSystemSerDesConfig(path_encoding=encoding))
    try:
        envelope = fs.serialize({"x": 1}, SerDesContext(op_id, arn))
    except SerDesError:
        assert not (tmp_path / "x").exists()
        return
    path = pathlib.Path(json.loads(envelope)["file"]).resolve()
    assert path.is_relative_to(base.resolve())
    assert fs.deserialize(envelope, SerDesContext(op_id, arn)) == {"x": 1}
    assert [p.resolve() for p in json_files(tmp_path)] == [path]


def test_nothing_is_written_when_the_inner_serdes_stores_nothing(tmp_path):
    """An inner serdes returning None (PassThroughSerDes given None) stores no file, no payload."""
    from durable_exec import PassThroughSerDes

    fs = FileSystemSerDes(str(tmp_path), FileSystemSerDesConfig(serdes=PassThroughSerDes()))
    assert fs.serialize(None, CONTEXT) is None
    assert json_files(tmp_path) == []
