"""Test data. Rows that a service owns the making of (API keys: hashing, audit) are made by that
service; plain rows (users, jobs) go straight to the table with defaults that hang together."""

import importlib
from datetime import timedelta

import factory
from django.apps import apps as django_apps
from django.utils import timezone

from accounts.models import ApiKey, User
from accounts.services.keys import api_key_create, api_key_revoke
from compliance.models import TermsVersion
from compliance.selectors import terms_current
from compliance.services import terms_accept
from jobs.models import Job
from jobs.workflows.base import JobErrorCode

_FINAL = {Job.Status.SUCCEEDED, Job.Status.FAILED, Job.Status.CANCELLED}
_RAN = {Job.Status.RUNNING, Job.Status.SUCCEEDED, Job.Status.FAILED}  # a cancelled job never ran here
# What the engine writes when a job ends this way (jobs.execution, jobs.services.job_cancel).
_ERRORS = {Job.Status.FAILED: (JobErrorCode.HANDLER_ERROR, "The workflow crashed: RuntimeError."),
           Job.Status.CANCELLED: (JobErrorCode.CANCELLED, "Cancelled before it ran.")}


def terms_shipped() -> TermsVersion:
    """The terms version a fresh install ships (data migration compliance 0002), made again by
    that migration's own code where a transactional test's flush emptied the table."""
    migration = importlib.import_module("compliance.migrations.0002_terms_2025_11_14")
    migration.terms_publish(django_apps, None)
    return TermsVersion.objects.get(version=migration.VERSION)


def terms_accepted_by(user: User) -> None:
    """`user` accepts the terms in force (the shipped ones when no version is published), so the
    terms gate lets them through to the product's pages."""
    if terms_current() is None:
        terms_shipped()
    terms_accept(user=user, ip=None)


class UserFactory(factory.django.DjangoModelFactory):
    """A user. `terms_accepted=True`: one who accepted the terms in force (the shipped ones when
    no other version is published), so the terms gate lets them through to the product's pages."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")

    @factory.post_generation
    def terms_accepted(user, create, extracted, **kwargs):
        if extracted:
            terms_accepted_by(user)


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """A key made by the key service (accounts.services.keys.api_key_create), so hashing and the
    creation audit stay in one place. The raw key, which the service hands out once, is on the
    returned row as `raw_key`. `scopes=None` gives the service's default scopes;
    `revoked=True` revokes the key through the service once made."""

    class Meta:
        model = ApiKey
        skip_postgeneration_save = True

    owner = factory.SubFactory(UserFactory)
    name = ""
    livemode = True
    scopes = None
    expires_at = None

    class Params:
        test_mode = factory.Trait(livemode=False)

    @classmethod
    def _create(cls, model_class, **fields):
        created = api_key_create(**fields)
        created.api_key.raw_key = created.raw_key
        return created.api_key

    @classmethod
    def _build(cls, model_class, **fields):
        raise TypeError("API keys are only made by the key service: use ApiKeyFactory() or api_key_pair()")

    @factory.post_generation
    def revoked(api_key, create, extracted, **kwargs):
        if extracted:
            api_key_revoke(api_key=api_key)


def api_key_pair(**fields) -> tuple[ApiKey, str]:
    """(api key, its raw key): ApiKeyFactory's fields (owner, livemode, name, scopes, expires_at, revoked)."""
    api_key = ApiKeyFactory(**fields)
    return api_key, api_key.raw_key


def api_key_for(user=None, *, livemode=True, name="test", scopes=None):
    """A (user, raw key) pair made through the real service; `scopes` replaces the default ones.
    A key with admin:read (an operator's) gets a staff owner when none is given: only staff may hold one."""
    user = user or UserFactory(is_staff="admin:read" in (scopes or []))
    api_key = ApiKeyFactory(owner=user, livemode=livemode, name=name, scopes=scopes)
    return api_key.owner, api_key.raw_key


class JobFactory(factory.django.DjangoModelFactory):
    """A job row as the engine leaves it in `status` (queued by default), written straight to the
    table: no cost reserved, no event log (but the event ending its last run when it has an
    actual_cost: the runs' costs are counted from it), no run token. For a job accepted the way intake
    accepts one, use tests.jobs.support.job_submit. The fields that go with a status (attempts,
    started/finished times, lease, worker, result, error) follow it unless given.

    Many at once, in one INSERT: Job.objects.bulk_create(JobFactory.build(owner=...) for ...)."""

    class Meta:
        model = Job
        skip_postgeneration_save = True

    owner = factory.SubFactory(UserFactory)
    livemode = True
    workflow = "demo.flow"
    payload = factory.LazyFunction(dict)
    priority = Job.Priority.NORMAL
    status = Job.Status.QUEUED
    created_at = factory.LazyFunction(timezone.now)
    next_attempt_at = factory.SelfAttribute("created_at")
    attempts = factory.LazyAttribute(lambda job: 1 if job.status in _RAN else 0)
    started_at = factory.LazyAttribute(lambda job: job.created_at if job.status in _RAN else None)
    finished_at = factory.LazyAttribute(lambda job: timezone.now() if job.status in _FINAL else None)
    cancel_requested_at = factory.LazyAttribute(
        lambda job: job.finished_at if job.status == Job.Status.CANCELLED else None)
    lease_expires_at = factory.LazyAttribute(
        lambda job: timezone.now() + timedelta(minutes=5) if job.status == Job.Status.RUNNING else None)
    worker = factory.LazyAttribute(lambda job: "test-worker" if job.status in _RAN else "")
    result = factory.LazyAttribute(lambda job: {} if job.status == Job.Status.SUCCEEDED else None)
    error_code = factory.LazyAttribute(lambda job: _ERRORS.get(job.status, ("", ""))[0])
    error_message = factory.LazyAttribute(lambda job: _ERRORS.get(job.status, ("", ""))[1])

    @factory.post_generation
    def run_cost_event(job, create, extracted, **kwargs):
        """A job that has run with an actual_cost has the event that ended its (last) run, carrying
        that cost on the day it was spent, as the engine writes it (the ledger and autoscale count
        runs' costs from these): at finished_at for a finished job, at its start for one whose
        earlier runs cost something and that runs (or waits) again."""
        from jobs.models import JobEvent

        if not create or job.actual_cost is None:
            return
        kind = {Job.Status.SUCCEEDED: JobEvent.Kind.SUCCEEDED, Job.Status.FAILED: JobEvent.Kind.FAILED,
                Job.Status.CANCELLED: JobEvent.Kind.CANCELLED}.get(job.status, JobEvent.Kind.RETRY_SCHEDULED)
        JobEvent.objects.create(job=job, kind=kind, attempt=job.attempts, from_status=Job.Status.RUNNING,
                                to_status=job.status if job.status in _FINAL else Job.Status.QUEUED,
                                cost=job.actual_cost, at=job.finished_at or job.started_at or job.created_at)

    class Params:
        test_mode = factory.Trait(livemode=False)
        # Running, but its worker went silent: the reaper's business.
        lease_expired = factory.Trait(
            status=Job.Status.RUNNING,
            lease_expires_at=factory.LazyFunction(lambda: timezone.now() - timedelta(seconds=1)))
