"""The workflow registry: name -> Workflow. Built-ins register themselves on import.

Besides the built-ins (the same for everyone), a higher app may provide workflows that belong to
one account, under a name prefix of its own: the marketplace gives a buyer `partner.<slug>` for
each listing installed. jobs does not import that app (ARCHITECTURE.md: data flows one way); the
app registers a provider in its ready(), and intake, execution and the workflow list ask through
workflow_for / workflows_for, which know the owner and the mode."""

from typing import Protocol

from jobs.workflows.base import (
    JobCancelled,
    JobContext,
    JobError,
    SchemaUnresolvable,
    TransientJobError,
    Workflow,
    schema_validator,
)

_REGISTRY: dict[str, Workflow] = {}


class WorkflowProvider(Protocol):
    """Workflows of one name prefix that depend on the account (registered by a higher app)."""

    def get(self, name: str, *, owner_id, livemode: bool) -> Workflow | None:
        """The workflow `name` if this account (in this mode) has it, else None."""

    def for_owner(self, *, owner_id, livemode: bool) -> list[Workflow]:
        """Every workflow of this prefix the account has (in this mode)."""


_PROVIDERS: dict[str, WorkflowProvider] = {}


def workflow_provider_register(prefix: str, provider: WorkflowProvider) -> None:
    """Workflows named `prefix...` come from `provider` (e.g. "partner." from the marketplace)."""
    if not prefix.endswith("."):
        raise ValueError("A provider's prefix ends with a dot, e.g. 'partner.'.")
    if any(name.startswith(prefix) for name in _REGISTRY):
        raise ValueError(f"Built-in workflows already use the prefix {prefix!r}.")
    _PROVIDERS[prefix] = provider


def workflow_provider_unregister(prefix: str) -> None:
    _PROVIDERS.pop(prefix, None)


def workflow_for(name: str, *, owner_id, livemode: bool) -> Workflow | None:
    """The workflow `name` as this account may run it in this mode: a built-in, or one a provider
    gives the account (None: no such workflow for it). A built-in costs no query."""
    workflow = _REGISTRY.get(name)
    if workflow is not None:
        return workflow
    for prefix, provider in _PROVIDERS.items():
        if name.startswith(prefix):
            return provider.get(name, owner_id=owner_id, livemode=livemode)
    return None


def workflows_for(*, owner_id, livemode: bool) -> list[Workflow]:
    """Every workflow this account may run in this mode: the built-ins, then its own, by name."""
    own = [w for provider in _PROVIDERS.values() for w in provider.for_owner(owner_id=owner_id, livemode=livemode)]
    return workflow_all() + sorted(own, key=lambda w: w.name)


def workflow_register(workflow: Workflow) -> Workflow:
    if workflow.name in _REGISTRY:
        raise ValueError(f"Workflow {workflow.name!r} is registered twice.")
    _REGISTRY[workflow.name] = workflow
    return workflow


def workflow_unregister(name: str) -> None:
    """Remove a workflow (tests register their own and take them out again)."""
    _REGISTRY.pop(name, None)


def workflow_get(name: str) -> Workflow | None:
    """A built-in workflow (the same for every account); workflow_for also knows providers'."""
    return _REGISTRY.get(name)


def workflow_all() -> list[Workflow]:
    return sorted(_REGISTRY.values(), key=lambda w: w.name)


def _register_builtins():
    from jobs.workflows import demo, http, llm

    for module in (demo, http, llm):
        workflow_register(module.WORKFLOW)


_register_builtins()

__all__ = ["JobCancelled", "JobContext", "JobError", "SchemaUnresolvable", "TransientJobError", "Workflow",
           "WorkflowProvider", "schema_validator",
           "workflow_all", "workflow_for", "workflow_get", "workflow_provider_register", "workflow_provider_unregister",
           "workflow_register", "workflow_unregister", "workflows_for"]
