"""The public surface: sorted, complete, nothing private, and official names importable."""

from __future__ import annotations

import types

import pytest

import durable_exec
import durable_exec.testing

PACKAGES = [durable_exec, durable_exec.testing]

# aws-durable-execution-sdk-python 3.0.0's top-level __all__ (official_wire.md section 12.1).
OFFICIAL_TOP_LEVEL = [
    "BatchCompletionError",
    "BatchItemStatus",
    "BatchResult",
    "CallbackError",
    "CallbackExternalError",
    "CallbackSubmitterError",
    "CallbackTimeoutError",
    "ChildContextError",
    "CompletionDecision",
    "CompletionItemStatus",
    "CompletionOutcome",
    "CompletionStatus",
    "DurableContext",
    "DurableExecutionsError",
    "DurableOperationError",
    "ExecutionError",
    "InvocationError",
    "InvokeError",
    "ParallelBranch",
    "PluginLoadError",
    "RetryableSerDesError",
    "SerDesError",
    "StepContext",
    "StepError",
    "ValidationError",
    "WaitForConditionError",
    "WithRetryConfig",
    "__version__",
    "complete_batch",
    "continue_batch",
    "durable_execution",
    "durable_parallel_branch",
    "durable_step",
    "durable_wait_for_callback",
    "durable_with_child_context",
    "with_retry",
]
NOT_SUPPORTED: set[str] = set()

# Names handler code imports from the official submodules (section 12.1) that this SDK
# re-exports at the top level. Wire models, the invocation-input types, suspension
# signals, serdes singletons/helpers and typing aliases are internal here.
OFFICIAL_SUBMODULE_NAMES = {
    "config": [
        "Duration", "StepConfig", "StepSemantics", "ChildConfig", "MapConfig", "ParallelConfig",
        "ParallelBranch", "CompletionConfig", "CompletionStatus", "CompletionItemStatus",
        "CompletionDecision", "CompletionOutcome", "BatchItemStatus", "complete_batch",
        "continue_batch", "InvokeConfig", "CallbackConfig", "WaitForCallbackConfig",
        "JitterStrategy", "NestingType",
    ],
    "retries": [
        "RetryDecision", "RetryStrategyConfig", "LinearRetryStrategyConfig",
        "create_retry_strategy", "create_linear_retry_strategy", "RetryPresets",
        "WithRetryConfig", "with_retry",
    ],
    "waits": [
        "WaitStrategyConfig", "WaitForConditionDecision", "WaitForConditionConfig",
        "create_wait_strategy",
    ],
    "serdes": ["SerDes", "SerDesContext", "JsonSerDes", "PassThroughSerDes", "ExtendedTypeSerDes"],
    "types": [
        "StepContext", "WaitForCallbackContext", "WaitForConditionCheckContext", "Callback",
        "LoggerInterface",
    ],
    "concurrency.models": ["BatchResult", "BatchItem", "CompletionReason", "BatchCompletionError"],
    "context": ["DurableContext", "Callback", "ExecutionContext"],
    "execution": ["durable_execution"],
    "exceptions": [
        "NonDeterministicExecutionError", "StepInterruptedError", "CheckpointError",
        "TerminationReason", "UnrecoverableError",
    ],
}  # fmt: skip

DOCUMENTED_TESTING_NAMES = [
    "DurableTestRunner",
    "FakeLambdaContext",
    "LocalDurableService",
    "TestResult",
    "VirtualClock",
]


def isort_key(name):
    """RUF022's isort-style order: SCREAMING_CASE, then CamelCase, then the rest, each sorted."""
    if name.isupper() and len(name) > 1:
        group = 0
    elif name[:1].isupper():
        group = 1
    else:
        group = 2
    return (group, name)


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
class TestAll:
    def test_is_sorted(self, package):
        """__all__ is sorted: classes first, then __version__, then functions (RUF022 order)."""
        assert package.__all__ == sorted(package.__all__, key=isort_key)
        assert package.__all__ == sorted(package.__all__)

    def test_has_no_duplicates(self, package):
        """No name is listed twice."""
        assert len(set(package.__all__)) == len(package.__all__)

    def test_every_name_resolves(self, package):
        """Every listed name is an attribute of the package."""
        missing = [name for name in package.__all__ if not hasattr(package, name)]
        assert missing == []

    def test_nothing_private_is_listed(self, package):
        """No underscore name is public, except __version__."""
        private = [n for n in package.__all__ if n.startswith("_") and n != "__version__"]
        assert private == []

    def test_every_public_attribute_is_listed(self, package):
        """Every non-underscore attribute, other than subpackages, is in __all__.

        ``dir()`` includes the names the package loads on first access.
        """
        public = {
            name
            for name in dir(package)
            if not name.startswith("_")
            and not isinstance(getattr(package, name), types.ModuleType)
        }
        assert public == set(package.__all__) - {"__version__"}

    def test_names_come_from_private_modules(self, package):
        """Every exported object is defined in a private module of the package, not re-exported."""
        foreign = []
        for name in package.__all__:
            module = getattr(getattr(package, name), "__module__", None)
            if module is not None and not module.startswith("durable_exec."):
                foreign.append((name, module))
        assert foreign == []


class TestOfficialCompatibility:
    def test_supported_official_top_level_names_are_importable(self):
        """Every official top-level name, except the unsupported ones, imports from durable_exec."""
        supported = [name for name in OFFICIAL_TOP_LEVEL if name not in NOT_SUPPORTED]
        missing = [name for name in supported if not hasattr(durable_exec, name)]
        assert missing == []
        assert set(supported) <= set(durable_exec.__all__)

    @pytest.mark.parametrize(
        ("submodule", "names"), list(OFFICIAL_SUBMODULE_NAMES.items()), ids=str
    )
    def test_official_submodule_names_are_importable(self, submodule, names):
        """Names users import from official submodules import from durable_exec itself."""
        missing = [name for name in names if name not in durable_exec.__all__]
        assert missing == []

    def test_version_is_a_string(self):
        """__version__ is a version string."""
        assert isinstance(durable_exec.__version__, str)
        assert durable_exec.__version__.count(".") >= 1

    def test_star_import_gives_exactly_all(self):
        """from durable_exec import * binds exactly the names in __all__."""
        namespace: dict[str, object] = {}
        exec("from durable_exec import *", namespace)
        namespace.pop("__builtins__", None)
        assert set(namespace) == set(durable_exec.__all__)


class TestTestingPackage:
    def test_documented_names_are_public(self):
        """The testing package exports the names its docstring documents."""
        assert set(DOCUMENTED_TESTING_NAMES) <= set(durable_exec.testing.__all__)
