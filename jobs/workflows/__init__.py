"""The workflow registry: name -> Workflow. Built-ins register themselves on import."""

from jobs.workflows.base import JobCancelled, JobContext, JobError, TransientJobError, Workflow

_REGISTRY: dict[str, Workflow] = {}


def workflow_register(workflow: Workflow) -> Workflow:
    if workflow.name in _REGISTRY:
        raise ValueError(f"Workflow {workflow.name!r} is registered twice.")
    _REGISTRY[workflow.name] = workflow
    return workflow


def workflow_unregister(name: str) -> None:
    """Remove a workflow (tests register their own and take them out again)."""
    _REGISTRY.pop(name, None)


def workflow_get(name: str) -> Workflow | None:
    return _REGISTRY.get(name)


def workflow_all() -> list[Workflow]:
    return sorted(_REGISTRY.values(), key=lambda w: w.name)


def _register_builtins():
    from jobs.workflows import demo, http, llm

    for module in (demo, http, llm):
        workflow_register(module.WORKFLOW)


_register_builtins()

__all__ = ["JobCancelled", "JobContext", "JobError", "TransientJobError", "Workflow", "workflow_all",
           "workflow_get", "workflow_register", "workflow_unregister"]
