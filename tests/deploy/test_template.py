"""examples/template.yaml: a SAM template that deploys an example as a durable function.

`sam` itself is not installed here; cfn-lint (which runs the SAM transform and checks
every property, DurableConfig included, against the CloudFormation schemas) and
aws-sam-translator (the transform `sam deploy` runs) are, from the test extra.
"""

from __future__ import annotations

import configparser
import copy
import importlib.util
from pathlib import Path
from typing import Any

import cfnlint.api
import pytest
import yaml
from samtranslator.translator.transform import transform

from durable_exec._handler import DurableHandler

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "examples" / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short forms (!Ref X, !Sub ...) as their long forms."""


def _short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _short_form)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    globals_ = template.get("Globals", {}).get("Function", {})
    return {
        name: {**globals_, **resource["Properties"]}
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


class TestTemplate:
    def test_deploys_a_durable_python_312_function_with_an_alias(self, template):
        """The function has DurableConfig, Python 3.12 and a published alias."""
        (function,) = functions(template).values()
        assert template["Transform"] == "AWS::Serverless-2016-10-31"
        assert function["Runtime"] == "python3.12"
        assert function["AutoPublishAlias"] == "live"
        durable = function["DurableConfig"]
        assert 1 <= durable["ExecutionTimeout"] <= 31_622_400
        assert 1 <= durable["RetentionPeriodInDays"] <= 90

    def test_the_package_ships_the_sdk_and_the_handler(self, template):
        """CodeUri holds durable_exec/ and the handler's file, and the handler is durable."""
        for function in functions(template).values():
            code = (TEMPLATE.parent / function["CodeUri"]).resolve()
            assert (code / "durable_exec" / "__init__.py").is_file()
            module_path, attribute = function["Handler"].rsplit(".", 1)
            source = code / f"{module_path}.py"
            assert source.is_file(), source
            spec = importlib.util.spec_from_file_location("deployed_handler", source)
            assert spec is not None
            assert spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            assert isinstance(getattr(module, attribute), DurableHandler)

    def test_the_layer_installs_the_runtime_dependencies(self, template):
        """The dependency layer's requirements are setup.cfg's install_requires."""
        (layer,) = (
            r["Properties"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::Serverless::LayerVersion"
        )
        requirements = (TEMPLATE.parent / layer["ContentUri"] / "requirements.txt").read_text()
        pinned = {
            line.strip() for line in requirements.splitlines() if line.strip() and line[0] != "#"
        }
        setup = configparser.ConfigParser()
        setup.read(REPO / "setup.cfg")
        declared = {line.strip() for line in setup["options"]["install_requires"].split("\n")}
        assert pinned == declared - {""}

    def test_cfn_lint_finds_nothing(self):
        """cfn-lint (SAM transform plus schema checks, DurableConfig included) is clean."""
        config = cfnlint.api.ManualArgs(regions=["us-east-1"])
        matches = cfnlint.api.lint(TEMPLATE.read_text(), config=config)
        assert [str(m) for m in matches] == []

    def test_sam_translates_it_with_the_durable_execution_role(self, template, monkeypatch):
        """The SAM transform keeps DurableConfig and grants the durable-execution policy."""
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        template = copy.deepcopy(template)
        resources = template["Resources"]
        for resource in resources.values():
            properties = resource["Properties"]
            for key in ("CodeUri", "ContentUri"):
                if key in properties:  # `sam package` uploads local paths to S3 first
                    properties[key] = "s3://bucket/artifact.zip"

        class NoPolicies:
            def load(self) -> dict[str, str]:
                return {}

        out = transform(template, {}, NoPolicies())  # type: ignore[arg-type]
        by_type: dict[str, list[dict[str, Any]]] = {}
        for resource in out["Resources"].values():
            by_type.setdefault(resource["Type"], []).append(resource["Properties"])
        (function,) = by_type["AWS::Lambda::Function"]
        assert function["DurableConfig"] == {"ExecutionTimeout": 86400, "RetentionPeriodInDays": 14}
        assert function["Handler"] == "examples/order_processing.handler"
        (alias,) = by_type["AWS::Lambda::Alias"]
        assert alias["Name"] == "live"
        (role,) = by_type["AWS::IAM::Role"]
        assert any(
            arn.endswith("/AWSLambdaBasicDurableExecutionRolePolicy")
            for arn in role["ManagedPolicyArns"]
        )
