"""`durable-exec migrate`: the two import prefixes rewritten, a diff first, `--check` for CI."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_exec._cli._app import main
from durable_exec._cli._migrate import rewrite_source

BEFORE = '''\
"""Uses aws_durable_execution_sdk_python (this docstring stays)."""
import aws_durable_execution_sdk_python
import aws_durable_execution_sdk_python.config as cfg
from aws_durable_execution_sdk_python import DurableContext  # aws_durable_execution_sdk_python
from aws_durable_execution_sdk_python.lambda_service import ErrorObject
from aws_durable_execution_sdk_python_testing.runner import (
    DurableFunctionTestRunner,
)
from unittest import mock

step = aws_durable_execution_sdk_python.config.StepConfig()
target = "aws_durable_execution_sdk_python.context.DurableContext.step"
'''
AFTER = '''\
"""Uses aws_durable_execution_sdk_python (this docstring stays)."""
import durable_exec
import durable_exec.config as cfg
from durable_exec import DurableContext  # aws_durable_execution_sdk_python
from durable_exec.lambda_service import ErrorObject
from durable_exec.testing.runner import (
    DurableFunctionTestRunner,
)
from unittest import mock

step = durable_exec.config.StepConfig()
target = "aws_durable_execution_sdk_python.context.DurableContext.step"
'''


class TestRewrite:
    def test_imports_and_dotted_references_are_rewritten(self):
        """Both prefixes are swapped in imports and code; strings and comments are not."""
        assert rewrite_source(BEFORE).text == AFTER

    def test_patch_targets_and_missing_names_are_reported(self):
        """A string naming an old module path and a name durable_exec lacks are reported."""
        source = (
            "from aws_durable_execution_sdk_python.lambda_service import Operation\n"
            "mock.patch('aws_durable_execution_sdk_python.state.ExecutionState')\n"
        )
        notes = rewrite_source(source).notes
        assert [line for line, _ in notes] == [1, 2]
        assert "durable_exec.lambda_service has no Operation" in notes[0][1]
        assert "left unchanged" in notes[1][1]

    def test_other_names_that_merely_contain_the_prefix_are_left_alone(self):
        """Only a whole name starting a dotted path is swapped."""
        source = "x.aws_durable_execution_sdk_python = aws_durable_execution_sdk_python_x\n"
        assert rewrite_source(source).text == source

    @given(
        st.lists(
            st.sampled_from(
                [
                    "import aws_durable_execution_sdk_python\n",
                    "from aws_durable_execution_sdk_python.config import Duration\n",
                    "import aws_durable_execution_sdk_python_testing.runner as r\n",
                    "value = aws_durable_execution_sdk_python.config.Duration(1)\n",
                    "text = 'aws_durable_execution_sdk_python'\n",
                    "x = 1  # aws_durable_execution_sdk_python_testing\n",
                ]
            ),
            max_size=6,
        )
    )
    def test_rewriting_twice_changes_nothing_more(self, lines):
        """Migrating migrated code leaves it as it is."""
        once = rewrite_source("".join(lines)).text
        assert rewrite_source(once).text == once
        code = [line.split("#")[0] for line in once.splitlines() if "'" not in line]
        assert not any("aws_durable_execution_sdk_python" in line for line in code)


class TestCommand:
    def test_prints_the_diff_then_rewrites(self, tmp_path, capsys):
        """The diff is printed and the file rewritten; a second run changes nothing."""
        module = tmp_path / "handler.py"
        module.write_text(BEFORE)
        assert main(["migrate", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        assert "\n-import aws_durable_execution_sdk_python\n" in out
        assert "\n+import durable_exec\n" in out
        assert "1 of 1 files changed" in out
        assert module.read_text() == AFTER
        assert main(["migrate", str(tmp_path)]) == 0
        assert "0 of 1 files changed" in capsys.readouterr().out

    def test_check_writes_nothing_and_fails_while_something_is_left(self, tmp_path, capsys):
        """--check prints the diff, leaves the file, and exits 1; 0 once migrated."""
        module = tmp_path / "handler.py"
        module.write_text(BEFORE)
        assert main(["migrate", "--check", str(module)]) == 1
        assert "1 of 1 files would change" in capsys.readouterr().out
        assert module.read_text() == BEFORE
        module.write_text(AFTER)
        assert main(["migrate", "--check", str(module)]) == 0

    def test_line_endings_and_encoding_are_kept(self, tmp_path):
        """A CRLF, Latin-1 file is rewritten with its line endings and its encoding."""
        module = tmp_path / "legacy.py"
        text = "# -*- coding: latin-1 -*-\r\nimport aws_durable_execution_sdk_python\r\nn = 'é'\r\n"
        module.write_bytes(text.encode("latin-1"))
        assert main(["migrate", str(module)]) == 0
        expected = text.replace("aws_durable_execution_sdk_python", "durable_exec")
        assert module.read_bytes() == expected.encode("latin-1")

    def test_virtual_environments_and_caches_are_skipped(self, tmp_path):
        """Files under .venv, .tox and __pycache__ are not touched."""
        hidden = tmp_path / ".venv" / "lib" / "sdk.py"
        hidden.parent.mkdir(parents=True)
        hidden.write_text(BEFORE)
        assert main(["migrate", str(tmp_path)]) == 0
        assert hidden.read_text() == BEFORE

    @pytest.mark.parametrize(
        ("content", "argument"),
        [(None, "missing"), ("def broken(:\n    (\n", "broken.py")],
        ids=["missing-path", "not-python"],
    )
    def test_unreadable_input_exits_2(self, tmp_path, capsys, content, argument):
        """A missing path, or a file that is not Python, gives exit code 2 and a message."""
        if content is not None:
            (tmp_path / argument).write_text(content)
        assert main(["migrate", str(tmp_path / argument)]) == 2
        assert str(tmp_path / argument) in capsys.readouterr().err
