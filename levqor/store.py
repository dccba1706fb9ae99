"""A shared store (Redis: cache, counters, broker; or the database) that cannot be reached right
now: callers answer "unavailable, retry shortly" (levqor.http_errors.store_down_error), never a 500."""

from django.db import InterfaceError, OperationalError
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

STORE_DOWN = (RedisError, ConnectionInterrupted)
# The database out of reach (PostgreSQL restarting or shutting down, its connection cut, SQLite
# locked past its timeout): DB-API's OperationalError is "an error of the database's operation, not
# under the programmer's control". `make chaos` found a PostgreSQL restart answered as 500s.
DATABASE_DOWN = (OperationalError, InterfaceError)
