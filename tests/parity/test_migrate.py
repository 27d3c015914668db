"""`durable-exec migrate`: the two import prefixes rewritten, a diff first, `--check` for CI."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_exec._cli._app import main
from durable_exec._cli._migrate import config_notes, rewrite_source

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

    def test_a_string_durable_exec_can_serve_is_given_its_new_spelling(self):
        """A string path that exists in durable_exec is reported with the path to write."""
        source = "target = 'aws_durable_execution_sdk_python.context.DurableContext.step'\n"
        ((line, note),) = rewrite_source(source).notes
        assert line == 1
        assert "write 'durable_exec.context.DurableContext.step'" in note

    def test_a_string_naming_official_internals_says_how_to_test_instead(self):
        """A path durable_exec lacks is reported as missing, with the way to replace it."""
        source = "mock.patch('aws_durable_execution_sdk_python.state.ExecutionState')\n"
        ((_, note),) = rewrite_source(source).notes
        assert "durable_exec.state.ExecutionState does not exist" in note
        assert "durable_exec.testing" in note
        assert "boto3_client=" in note

    @pytest.mark.parametrize(
        ("requirement", "advice"),
        [
            ("aws-durable-execution-sdk-python>=3.0", "as a dependency write durable-exec"),
            ("aws_durable_execution_sdk_python_testing", "write 'durable_exec.testing'"),
            ("AWS-Durable-Execution-SDK-Python-Testing == 1.4.0", "as a dependency drop it"),
            ("aws.durable.execution.sdk.python[otel]", "as a dependency write durable-exec"),
        ],
    )
    def test_a_string_naming_an_official_package_says_what_to_write(self, requirement, advice):
        """Package names in strings (install_requires, metadata lookups) come with advice."""
        ((_, note),) = rewrite_source(f"deps = [{requirement!r}]\n").notes
        assert requirement in note
        assert advice in note

    @pytest.mark.parametrize(
        "text",
        [
            "'aws-durable-execution-sdk-python-otel'",
            "'see aws-durable-execution-sdk-python for details'",
            "'my-aws-durable-execution-sdk-python'",
        ],
    )
    def test_other_strings_are_not_reported(self, text):
        """Prose, and other packages whose names contain an official one, are left alone."""
        assert rewrite_source(f"x = {text}\n").notes == []

    def test_configuration_files_name_each_occurrence_with_what_to_do(self):
        """Each occurrence outside a comment is reported, with the dependency advice."""
        text = (
            "# aws-durable-execution-sdk-python was the old SDK\n"
            "aws-durable-execution-sdk-python==3.0.0\n"
            "aws-durable-execution-sdk-python-testing\n"
            "commands = pytest --cov=aws_durable_execution_sdk_python tests\n"
        )
        notes = config_notes(text)
        assert [line for line, _ in notes] == [2, 3, 4]
        assert "as a dependency write durable-exec" in notes[0][1]
        assert "durable-exec includes durable_exec.testing" in notes[1][1]
        assert "as a module name, durable_exec" in notes[2][1]

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

    def test_configuration_files_are_reported_not_rewritten(self, tmp_path, capsys):
        """requirements and pyproject files under a path are reported and left as they are."""
        requirements = tmp_path / "requirements-dev.txt"
        requirements.write_text("pytest\naws-durable-execution-sdk-python-testing==1.4.0\n")
        pyproject = tmp_path / "pyproject.toml"
        pyproject.write_text('[project]\ndependencies = ["aws-durable-execution-sdk-python"]\n')
        assert main(["migrate", "--check", str(tmp_path)]) == 0
        err = capsys.readouterr().err
        assert f"{requirements}:2: aws-durable-execution-sdk-python-testing is" in err
        assert f"{pyproject}:2: aws-durable-execution-sdk-python is" in err
        assert "durable-exec" in err.splitlines()[0]
        assert requirements.read_text().endswith("testing==1.4.0\n")

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
