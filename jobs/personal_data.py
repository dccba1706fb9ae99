"""jobs' section of the personal data registry (accounts.personal_data): the user's jobs with
their event logs in the export; on erasure, the jobs kept for accounting without what could
name a person."""

from accounts.personal_data import Erasure, personal_data_register
from jobs import selectors, services


def jobs_export(*, user) -> list[dict]:
    return [
        {"id": j.pk, "workflow": j.workflow, "livemode": j.livemode, "status": j.status, "payload": j.payload,
         "result": j.result, "callback_url": j.callback_url, "error_code": j.error_code,
         "error_message": j.error_message, "estimated_cost": j.estimated_cost, "actual_cost": j.actual_cost,
         "created_at": j.created_at, "started_at": j.started_at, "finished_at": j.finished_at,
         "events": [{"kind": e.kind, "attempt": e.attempt, "from_status": e.from_status,
                     "to_status": e.to_status, "error_code": e.error_code, "error_message": e.error_message,
                     "data": e.data, "at": e.at} for e in j.events.all()]}
        for j in selectors.job_export_for(user)]


def jobs_erase(*, user, erasure: Erasure) -> None:
    services.job_owner_personal_data_erase(owner=user)


def jobs_personal_data_register() -> None:
    personal_data_register(name="jobs", export=jobs_export, erase=jobs_erase)
