"""The SQL of the jobs' hot paths, built once per process instead of compiled by the ORM per call,
one module per concern; each has a plain-ORM twin that tests hold it equal to, on SQLite and on
PostgreSQL (tests/jobs/test_fastsql_*.py):

- build: the shared builders (INSERT statements and values, a row reader), and many-row inserts
- intake: a new job with its reservation and first event (twin: jobs.services.job_insert_orm)
- claim: a worker taking the best due job under a lease (twin: in its test)
- finish: an attempt's final state, its events, the spend settled (twin: jobs.execution.job_finish_orm)
- token: a run token in django-q2's ORM queue (twin: django-q2's own ORM broker enqueue)
"""
