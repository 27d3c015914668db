"""Cross-SDK: what FileSystemSerDes writes, the official SDK reads, and the reverse.

At the serdes level, envelopes and files are compared byte for byte, for both
storage modes and both path encodings. At the execution level one execution runs
its first invocation on one SDK (a step's large result goes to a file, then a
wait ends the invocation) and its second on the other, which replays the step by
reading that file.
"""

from __future__ import annotations

import datetime
import decimal
import pathlib
import uuid
from typing import Any

import pytest

official_fs = pytest.importorskip("aws_durable_execution_sdk_python.filesystem_serdes")
official_serdes = pytest.importorskip("aws_durable_execution_sdk_python.serdes")
official_preview = pytest.importorskip("aws_durable_execution_sdk_python.preview")

import aws_durable_execution_sdk_python as official  # noqa: E402
from aws_durable_execution_sdk_python import config as official_config  # noqa: E402
from sdk_driver import Driver  # noqa: E402

from durable_exec import Duration, SerDesContext, StepConfig, durable_execution  # noqa: E402
from durable_exec.filesystem_serdes import (  # noqa: E402
    FileSystemPathEncoding,
    FileSystemSerDes,
    FileSystemSerDesConfig,
    FileSystemSerDesMode,
)
from durable_exec.preview import PreviewConfig, PreviewField, PreviewMode, build_preview  # noqa: E402

ARN = "arn:aws:lambda:eu-west-1:123456789012:function:orders:live/durable-execution/run-7/4f3c"
VALUES: list[Any] = [
    {"order": "o-1", "lines": [{"sku": "a", "qty": 2}], "total": decimal.Decimal("19.90")},
    ("tuple", 1, None, b"\x00\xff"),
    [1, 2.5, "three", True, None],
    {"at": datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC), "id": uuid.UUID(int=7)},
    "x" * (300 * 1024),  # over the overflow threshold
]
MODES = [(mode, encoding) for mode in ("ALWAYS", "OVERFLOW") for encoding in ("URI", "HASH")]
# The official preview cannot show datetime/UUID/Decimal leaves (json.dumps fails),
# so the shared configuration shows plain fields and masks the Decimal.
PREVIEW = PreviewConfig(
    PreviewMode.EXCLUDE_ALL,
    include=[PreviewField("order"), PreviewField("qty")],
    mask=[PreviewField("total")],
)
OFFICIAL_PREVIEW = official_preview.PreviewConfig(
    official_preview.PreviewMode.EXCLUDE_ALL,
    include=[official_preview.PreviewField("order"), official_preview.PreviewField("qty")],
    mask=[official_preview.PreviewField("total")],
)


def ours(base: pathlib.Path, mode: str, encoding: str) -> FileSystemSerDes:
    return FileSystemSerDes(
        str(base),
        FileSystemSerDesConfig(
            storage_mode=FileSystemSerDesMode(mode),
            path_encoding=FileSystemPathEncoding(encoding),
            generate_preview=lambda value: build_preview(value, PREVIEW),
        ),
    )


def theirs(base: pathlib.Path, mode: str, encoding: str) -> Any:
    return official_fs.FileSystemSerDes(
        str(base),
        official_fs.FileSystemSerDesConfig(
            storage_mode=official_fs.FileSystemSerDesMode(mode),
            path_encoding=official_fs.FileSystemPathEncoding(encoding),
            generate_preview=lambda value: official_preview.build_preview(value, OFFICIAL_PREVIEW),
        ),
    )


def files(base: pathlib.Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize(("mode", "encoding"), MODES)
@pytest.mark.parametrize("index", range(len(VALUES)))
def test_envelopes_and_files_are_byte_identical(tmp_path, mode, encoding, index):
    """The same value gives the same envelope and the same files on both SDKs."""
    value = VALUES[index]
    op_id = f"op/{index}:é"
    ours_dir, theirs_dir = tmp_path / "ours", tmp_path / "theirs"
    ours_envelope = ours(ours_dir, mode, encoding).serialize(value, SerDesContext(op_id, ARN))
    theirs_envelope = theirs(theirs_dir, mode, encoding).serialize(
        value, official_serdes.SerDesContext(op_id, ARN)
    )
    assert ours_envelope == theirs_envelope.replace(str(theirs_dir), str(ours_dir))
    assert files(ours_dir) == files(theirs_dir)


@pytest.mark.parametrize(("mode", "encoding"), MODES)
@pytest.mark.parametrize("index", range(len(VALUES)))
def test_each_sdk_reads_what_the_other_wrote(tmp_path, mode, encoding, index):
    """A value written by one SDK is read back equal by the other, both ways."""
    value = VALUES[index]
    context = SerDesContext(f"op-{index}", ARN)
    their_context = official_serdes.SerDesContext(f"op-{index}", ARN)
    written_by_us = ours(tmp_path / "a", mode, encoding).serialize(value, context)
    assert theirs(tmp_path / "a", mode, encoding).deserialize(written_by_us, their_context) == value
    written_by_them = theirs(tmp_path / "b", mode, encoding).serialize(value, their_context)
    assert ours(tmp_path / "b", mode, encoding).deserialize(written_by_them, context) == value


def _workflow(config_cls: Any, duration_cls: Any, serdes: Any) -> Any:
    """The same handler body for both SDKs: a large step result in a file, a wait, a step."""

    def handler(event: Any, context: Any) -> Any:
        report = context.step(
            lambda _: {"rows": list(range(event["rows"])), "title": "weekly"},
            name="build report",
            config=config_cls(serdes=serdes),
        )
        context.wait(duration_cls.from_seconds(5), name="cool down")
        return context.step(lambda _: f"{report['title']}: {len(report['rows'])} rows", name="sum")

    return handler


@pytest.fixture
def driver(service, clock) -> Driver:
    return Driver(service, clock)


@pytest.mark.parametrize("first", ["durable_exec", "official"])
def test_an_execution_continues_on_the_other_sdk_reading_the_file(tmp_path, driver, first):
    """The second invocation, on the other SDK, replays the step from the file the first wrote."""
    ours_handler = durable_execution(
        _workflow(StepConfig, Duration, FileSystemSerDes(str(tmp_path)))
    )
    theirs_handler = official.durable_execution(
        _workflow(
            official_config.StepConfig,
            official_config.Duration,
            official_fs.FileSystemSerDes(str(tmp_path)),
        ),
        boto3_client=driver.client,
    )
    sequence = (
        [driver.ours(ours_handler), driver.official(theirs_handler)]
        if first == "durable_exec"
        else [driver.official(theirs_handler), driver.ours(ours_handler)]
    )
    arn = driver.run(lambda n: sequence[min(n, 1)], {"rows": 40_000}, name=f"cross-{first}")
    service = driver.service
    assert service.execution_status(arn) == "SUCCEEDED", service.error(arn)
    assert service.result(arn) == '"weekly: 40000 rows"'
    assert len(driver.outputs) == 2
    step = next(op for op in service.operations(arn) if op.get("Name") == "build report")
    pointer = step["StepDetails"]["Result"]
    assert pointer.startswith('{"file": "')
    assert str(tmp_path) in pointer
    assert len(list(tmp_path.rglob("*.json"))) == 1
