"""The SQL of accounts' hot paths, one module per concern, each held equal to its plain-ORM twin
by a test on SQLite and on PostgreSQL (tests/accounts/test_fastsql_*.py):

- usage: the monthly quota count's durable row (one more call; the count written back)
"""
