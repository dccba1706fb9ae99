"""A shared store (Redis: cache, counters, broker) that cannot be reached right now: callers
answer "unavailable, retry shortly" (levqor.http_errors.store_down_error), never a 500."""

from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

STORE_DOWN = (RedisError, ConnectionInterrupted)
