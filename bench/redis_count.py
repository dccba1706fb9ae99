"""Counting Redis ROUND TRIPS made by the processes the bench serves with (gunicorn workers), client side.

Why client side: Redis' `INFO commandstats` / `total_commands_processed` count commands, not round
trips (a MULTI/EXEC pipeline of five commands is one round trip but seven commands), and they are
server-wide: every other client of the same Redis (other checkouts' tests, other benches) is counted
too. So the bench counts in our own processes instead.

How: redis-py sends everything a client asks of the server through
`AbstractConnection.send_packed_command`: one call per single command (`send_command`), one per
pipeline or transaction (all its commands packed together), one per connection handshake command
(HELLO / CLIENT SETINFO / SELECT, sent through `send_command`) and per health-check PING. Each call
is followed by reading the reply before the client goes on, so one call = one round trip. The
bench wraps that method (and counts commands beside it: `send_command` +1, `pack_commands` + the
pipeline's length), in the gunicorn workers only (bench.apps, when BENCH_REDIS_COUNTER_DIR is set).

Each process keeps its counts in a small file of its own in that directory (an mmap of
unsigned 64-bit counters, written in place: no I/O per increment), so the bench sums every
worker's counts whichever worker served which request: [round trips, commands, then round trips
by the name of their first command (NAMES, then OTHER)]. A transaction pipeline's first command
is MULTI, a Lua script's EVALSHA (or EVAL).
"""

import ctypes
import mmap
import os
import struct
from pathlib import Path

NAMES = ("GET", "SET", "SETEX", "SETNX", "MGET", "MSET", "DEL", "EXISTS", "EXPIRE", "PEXPIRE", "TTL", "INCR",
         "INCRBY", "DECR", "DECRBY", "EVALSHA", "EVAL", "MULTI", "RPUSH", "LPUSH", "LLEN", "BLPOP", "PUBLISH",
         "PING", "HELLO", "CLIENT", "SELECT", "SCRIPT", "HINCRBY", "HSET", "HGETALL", "ZADD")
_INDEX = {name.encode(): i for i, name in enumerate(NAMES)}
SLOTS = 2 + len(NAMES) + 1  # round trips, commands, by first command ..., OTHER
SIZE = 8 * SLOTS
_FILE_PREFIX = "rt-"

_state: dict = {}


def command_name(packed) -> bytes:
    """The (upper-case) name of the first command in a packed RESP request: b"*2\\r\\n$3\\r\\nGET\\r\\n..." -> b"GET".
    packed is what send_packed_command gets: bytes, or a list of byte chunks (first chunk holds the head)."""
    head = packed
    if isinstance(packed, (list, tuple)):
        head = packed[0] if packed else b""
    if isinstance(head, str):
        head = head.encode()
    head = bytes(head[:64])
    parts = head.split(b"\r\n", 3)
    if len(parts) < 3 or not parts[0].startswith(b"*") or not parts[1].startswith(b"$"):
        return b""
    return parts[2].upper()


def slot_of(name: bytes) -> int:
    return 2 + _INDEX.get(name, len(NAMES))


def _counters(directory: str):
    """This process's counter array (a new file after a fork: gunicorn workers fork from the master)."""
    pid = os.getpid()
    if _state.get("pid") != pid:
        path = Path(directory) / f"{_FILE_PREFIX}{pid}.bin"
        with open(path, "wb") as fh:
            fh.write(b"\0" * SIZE)
        fd = os.open(path, os.O_RDWR)
        try:
            buffer = mmap.mmap(fd, SIZE)
        finally:
            os.close(fd)
        _state.update(pid=pid, mmap=buffer, array=(ctypes.c_uint64 * SLOTS).from_buffer(buffer))
    return _state["array"]


def install(directory: str) -> None:
    """Wrap redis-py's connection class so this process counts its round trips into directory."""
    from redis.connection import AbstractConnection

    if getattr(AbstractConnection.send_packed_command, "_bench_counted", False):
        return
    send_packed, send_command, pack_commands = (AbstractConnection.send_packed_command,
                                                AbstractConnection.send_command, AbstractConnection.pack_commands)

    def counted_send_packed_command(self, command, check_health=True):
        counters = _counters(directory)
        counters[0] += 1
        counters[slot_of(command_name(command))] += 1
        return send_packed(self, command, check_health)

    def counted_send_command(self, *args, **kwargs):
        _counters(directory)[1] += 1
        return send_command(self, *args, **kwargs)

    def counted_pack_commands(self, commands):
        commands = list(commands)
        _counters(directory)[1] += len(commands)
        return pack_commands(self, commands)

    counted_send_packed_command._bench_counted = True
    _state["originals"] = (send_packed, send_command, pack_commands)
    AbstractConnection.send_packed_command = counted_send_packed_command
    AbstractConnection.send_command = counted_send_command
    AbstractConnection.pack_commands = counted_pack_commands


def uninstall() -> None:
    """Undo install() (tests): redis-py's own methods back, this process's counter file closed."""
    from redis.connection import AbstractConnection

    originals = _state.pop("originals", None)
    if originals:
        (AbstractConnection.send_packed_command, AbstractConnection.send_command,
         AbstractConnection.pack_commands) = originals
    _state.pop("array", None)
    buffer = _state.pop("mmap", None)
    _state.pop("pid", None)
    if buffer is not None:
        buffer.close()


def decode(raw: bytes) -> dict:
    """One process's file -> {"round_trips", "commands", "by_first_command": {name: n}} (zero entries left out)."""
    values = struct.unpack(f"<{SLOTS}Q", raw[:SIZE].ljust(SIZE, b"\0"))
    by_name = {name: values[2 + i] for i, name in enumerate((*NAMES, "OTHER")) if values[2 + i]}
    return {"round_trips": values[0], "commands": values[1], "by_first_command": by_name}


def add(a: dict, b: dict) -> dict:
    names = set(a.get("by_first_command", {})) | set(b.get("by_first_command", {}))
    return {"round_trips": a.get("round_trips", 0) + b.get("round_trips", 0),
            "commands": a.get("commands", 0) + b.get("commands", 0),
            "by_first_command": {n: a.get("by_first_command", {}).get(n, 0) + b.get("by_first_command", {}).get(n, 0)
                                 for n in sorted(names)}}


def subtract(after: dict, before: dict) -> dict:
    names = set(after.get("by_first_command", {}))
    delta = {n: after["by_first_command"][n] - before.get("by_first_command", {}).get(n, 0) for n in sorted(names)}
    return {"round_trips": after.get("round_trips", 0) - before.get("round_trips", 0),
            "commands": after.get("commands", 0) - before.get("commands", 0),
            "by_first_command": {n: v for n, v in delta.items() if v}}


def read_totals(directory: str) -> dict:
    """The sum over every process that counted into directory (files of exited processes included)."""
    total = {"round_trips": 0, "commands": 0, "by_first_command": {}}
    for path in sorted(Path(directory).glob(f"{_FILE_PREFIX}*.bin")):
        try:
            total = add(total, decode(path.read_bytes()))
        except OSError:
            continue
    return total


def per_request(delta: dict, requests: int) -> dict | None:
    """Round trips (and commands, and round trips by first command) per request served; None without requests."""
    if not requests:
        return None
    return {"requests": requests, "round_trips": delta["round_trips"] / requests,
            "commands": delta["commands"] / requests,
            "by_first_command": {n: round(v / requests, 3) for n, v in delta.get("by_first_command", {}).items()}}
