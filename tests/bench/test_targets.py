"""The bench's pure parts: the targets object of bench/results/latest.json (issue 14) and the Redis
round-trip counting. Fast, no server: the shape of the figures must not break silently."""

from types import SimpleNamespace

import pytest

from bench import redis_count, targets
from bench.suite import depth_summary, summarize_windows

KEYS = {"intake_vs_obvious_rps", "intake_vs_obvious_cpu", "redis_round_trips_per_intake", "layer_cpu_overhead",
        "sustained_jobs_per_s", "drain_vs_raw", "pickup_p50_ms", "pickup_p95_ms"}


def _result(db: str, *, broker: str, ours_rps=600.0, obvious_rps=200.0, ours_cpu=1.0, obvious_cpu=3.5,
            round_trips=2.0, layer_on=1.05, layer_off=1.0, finished=310.0, accepted_n=9300, finished_n=9300,
            growing=False, raw=1000.0, jobs=1600.0, p50=1.5, p95=4.0):
    return {
        "db": db, "settings": {"broker": broker},
        "intake": {
            "vs_obvious": {"ours": {"rps": ours_rps, "cpu_ms": ours_cpu,
                                   "redis_per_request": {"round_trips": round_trips} if broker == "redis" else None},
                           "obvious": {"rps": obvious_rps, "cpu_ms": obvious_cpu}},
            "layer_cost": {"on": {"rps": 500.0, "cpu_ms": layer_on}, "off": {"rps": 520.0, "cpu_ms": layer_off}},
        },
        "drain": {"raw": {"per_s": raw}, "jobs": {"per_s": jobs}},
        "pickup": {"p50_ms": p50, "p95_ms": p95},
        "sustained": {"finished_per_s": finished, "accepted": accepted_n, "finished": finished_n,
                      "backlog_growing": growing},
    }


def test_targets_have_exactly_the_issue_keys_each_per_database_with_measured_goal_met():
    out = targets.targets_from([_result("sqlite", broker="orm"), _result("postgres", broker="redis")])
    assert set(out) == KEYS
    for key, per_db in out.items():
        assert per_db, key
        for db, item in per_db.items():
            assert db in {"sqlite", "postgres"}
            assert set(item) == {"measured", "goal", "met"}
            assert isinstance(item["measured"], float) and isinstance(item["met"], bool)
    # Applies to one database only: still keyed by it.
    assert set(out["redis_round_trips_per_intake"]) == {"postgres"}
    assert set(out["sustained_jobs_per_s"]) == {"postgres"}
    assert set(out["pickup_p95_ms"]) == {"postgres"}
    assert set(out["intake_vs_obvious_rps"]) == {"sqlite", "postgres"}
    # The ORM broker's pickup has its own goal.
    assert out["pickup_p50_ms"]["sqlite"]["goal"] == 10 and out["pickup_p50_ms"]["postgres"]["goal"] == 2


def test_targets_values_and_verdicts():
    out = targets.targets_from([_result("postgres", broker="redis")])
    assert out["intake_vs_obvious_rps"]["postgres"] == {"measured": 3.0, "goal": 3.0, "met": True}
    assert out["intake_vs_obvious_cpu"]["postgres"] == {"measured": 0.286, "goal": 0.33, "met": True}
    assert out["redis_round_trips_per_intake"]["postgres"] == {"measured": 2.0, "goal": 2, "met": True}
    assert out["layer_cpu_overhead"]["postgres"] == {"measured": 0.05, "goal": 0.1, "met": True}
    assert out["sustained_jobs_per_s"]["postgres"] == {"measured": 310.0, "goal": 300, "met": True}
    assert out["drain_vs_raw"]["postgres"] == {"measured": 1.6, "goal": 1.5, "met": True}
    assert out["pickup_p95_ms"]["postgres"]["met"] is True

    missed = targets.targets_from([_result("postgres", broker="redis", ours_rps=500.0, ours_cpu=1.2, round_trips=2.5,
                                           layer_on=1.2, raw=1000.0, jobs=1400.0, p50=2.5, p95=6.0)])
    for key in ("intake_vs_obvious_rps", "intake_vs_obvious_cpu", "redis_round_trips_per_intake",
                "layer_cpu_overhead", "drain_vs_raw", "pickup_p50_ms", "pickup_p95_ms"):
        assert missed[key]["postgres"]["met"] is False, key
    assert missed["layer_cpu_overhead"]["postgres"]["measured"] == pytest.approx(0.2)


def test_sustained_rate_counts_only_without_a_growing_backlog_and_with_workers_keeping_up():
    growing = targets.targets_from([_result("postgres", broker="redis", growing=True)])
    assert growing["sustained_jobs_per_s"]["postgres"]["met"] is False
    behind = targets.targets_from([_result("postgres", broker="redis", accepted_n=12000, finished_n=9300)])
    assert behind["sustained_jobs_per_s"]["postgres"]["met"] is False
    unknown = targets.targets_from([_result("postgres", broker="redis", growing=None)])
    assert unknown["sustained_jobs_per_s"]["postgres"]["met"] is False


def test_phases_not_run_leave_empty_entries_and_the_table_says_not_measured():
    out = targets.targets_from([{"db": "sqlite", "settings": {"broker": "orm"}, "errors": {"suite": "boom"}}])
    assert out == {key: {} for key in KEYS}
    table = "\n".join(targets.render(out))
    assert table.count("not measured") == sum(len(spec[0]) for spec in targets.GOALS.values())


def test_round_trips_are_not_reported_for_the_orm_broker():
    out = targets.targets_from([_result("sqlite", broker="orm")])
    assert out["redis_round_trips_per_intake"] == {}


def test_render_one_line_per_target_and_database():
    out = targets.targets_from([_result("sqlite", broker="orm"), _result("postgres", broker="redis")])
    lines = targets.render(out)
    assert lines[0].startswith("TARGETS")
    body = lines[2:]
    assert len(body) == sum(len(spec[0]) for spec in targets.GOALS.values())
    assert any(line.split()[:2] == ["redis_round_trips_per_intake", "postgres"] and "YES" in line for line in body)


# --- Redis round trips --------------------------------------------------------------------------------------

def test_command_name_of_packed_requests():
    assert redis_count.command_name(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") == b"GET"
    assert redis_count.command_name([b"*1\r\n$5\r\nmulti\r\n", b"..."]) == b"MULTI"
    assert redis_count.command_name(b"garbage") == b""
    assert redis_count.slot_of(b"GET") == 2 + redis_count.NAMES.index("GET")
    assert redis_count.slot_of(b"NOSUCH") == redis_count.SLOTS - 1


def test_decode_add_subtract_per_request():
    import struct

    values = [0] * redis_count.SLOTS
    values[0], values[1] = 10, 14
    values[redis_count.slot_of(b"EVALSHA")] = 6
    values[redis_count.slot_of(b"WHATEVER")] = 4
    one = redis_count.decode(struct.pack(f"<{redis_count.SLOTS}Q", *values))
    assert one == {"round_trips": 10, "commands": 14, "by_first_command": {"EVALSHA": 6, "OTHER": 4}}
    two = redis_count.add(one, one)
    assert two["round_trips"] == 20 and two["by_first_command"]["EVALSHA"] == 12
    delta = redis_count.subtract(two, one)
    assert delta == one
    per = redis_count.per_request(delta, 5)
    assert per["round_trips"] == 2 and per["commands"] == 2.8 and per["by_first_command"]["EVALSHA"] == 1.2
    assert redis_count.per_request(delta, 0) is None


class _FakeSocket:
    def __init__(self):
        self.sent: list[bytes] = []

    def sendall(self, data):
        self.sent.append(bytes(data))


@pytest.fixture
def counted(tmp_path):
    redis_count.install(str(tmp_path))
    try:
        yield tmp_path
    finally:
        redis_count.uninstall()


def _connection():
    from redis.connection import Connection

    conn = Connection(host="127.0.0.1", port=1)  # never connects: the socket is a fake
    conn._sock = _FakeSocket()
    return conn


def test_counter_counts_round_trips_not_commands(counted):
    """One command = one round trip; a pipeline of five (MULTI, three, EXEC) sent together = one round
    trip and five commands: what INFO commandstats cannot tell apart."""
    conn = _connection()
    conn.send_command("GET", "a")
    conn.send_command("INCR", "b")
    packed = conn.pack_commands([("MULTI",), ("INCR", "x"), ("EXPIRE", "x", 60), ("INCR", "y"), ("EXEC",)])
    conn.send_packed_command(packed)
    totals = redis_count.read_totals(str(counted))
    assert totals["round_trips"] == 3
    assert totals["commands"] == 7
    assert totals["by_first_command"] == {"GET": 1, "INCR": 1, "MULTI": 1}
    assert len(conn._sock.sent) >= 3


def test_uninstall_restores_redis_py(tmp_path):
    from redis.connection import AbstractConnection

    original = AbstractConnection.send_packed_command
    redis_count.install(str(tmp_path))
    assert AbstractConnection.send_packed_command is not original
    conn = _connection()
    conn.send_command("GET", "a")
    redis_count.uninstall()
    assert AbstractConnection.send_packed_command is original
    conn.send_command("GET", "b")
    assert redis_count.read_totals(str(tmp_path))["round_trips"] == 1


# --- the alternating windows and the queue depth -----------------------------------------------------------

def test_summarize_windows_cpu_per_request_and_round_trips():
    window = {"rps": 100.0, "p50_ms": 10.0, "p99_ms": 30.0, "non_2xx": 0, "socket_errors": 0,
              "cpu": {"gunicorn": 0.4, "postgres": 0.1, "other": 0.9},
              "redis": {"round_trips": 300, "commands": 400, "by_first_command": {"GET": 150, "EVALSHA": 150}},
              "jobs": 150}
    out = summarize_windows([window, {**window, "rps": 300.0, "cpu": {"gunicorn": 1.0, "redis": 0.0}}])
    assert out["rps"] == 200.0
    assert out["cpu_ms_windows"] == [5.0, pytest.approx(3.333, abs=1e-3)]
    assert out["cpu_ms"] == pytest.approx(1.5 / 400 * 1000)  # CPU of all windows / their requests; not "other"
    assert out["redis_per_request"]["round_trips"] == 2.0
    assert out["redis_per_request"]["by_first_command"] == {"EVALSHA": 1.0, "GET": 1.0}


def test_depth_summary_growing_or_not():
    flat = [(float(t), 40 + (t % 3)) for t in range(0, 300)]
    out = depth_summary(flat, 300)
    assert out["depth_early_at_s"] == 60.0 and out["backlog_growing"] is False
    rising = [(float(t), 10 * t) for t in range(0, 300)]
    assert depth_summary(rising, 300)["backlog_growing"] is True
    short = depth_summary([(float(t), 5) for t in range(0, 30)], 30)
    assert short["depth_early_at_s"] == 7.5 and short["backlog_growing"] is False
    assert depth_summary([], 30)["backlog_growing"] is None
    # A depth of a few jobs is the workers' own hand, not a backlog: 1 -> 2 is not growth.
    tiny = [(float(t), 1 if t < 20 else 2) for t in range(0, 30)]
    assert depth_summary(tiny, 30)["backlog_growing"] is True
    assert depth_summary(tiny, 30, no_backlog=4)["backlog_growing"] is False
    assert depth_summary(rising, 300, no_backlog=4)["backlog_growing"] is True


# --- the layer-off switch ----------------------------------------------------------------------------------

def test_layer_off_quota_count_counts_nothing(monkeypatch):
    from accounts.services import usage
    from bench.apps import quota_count_off

    monkeypatch.setattr(usage, "api_usage_count", usage.api_usage_count)  # restored after the test
    assert quota_count_off() is True
    key = SimpleNamespace(owner=SimpleNamespace(tier="sandbox", pk=1))
    result = usage.api_usage_count(api_key=key)
    assert result.calls_limit is None and result.calls_used == 0


# --- whose CPU: the box's PostgreSQL serves other databases too ----------------------------------------------

def test_postgres_process_titles_name_their_database():
    from bench.cpu import CpuMeter, postgres_database

    assert postgres_database("postgres: 15/main: postgres lq_bench_bench 127.0.0.1(5555) idle") == "lq_bench_bench"
    assert postgres_database("postgres: postgres levqor 10.213.0.5(53764) idle in transaction") == "levqor"
    assert postgres_database("postgres: u d [local] SELECT") == "d"
    assert postgres_database("postgres: 15/main: autovacuum worker lq_bench_bench") == "lq_bench_bench"
    assert postgres_database("postgres: 15/main: checkpointer") == ""
    assert postgres_database("/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main") == ""
    meter = CpuMeter(pg_database="lq_bench_bench", redis_ours=False)
    assert meter.label(10, 10, "postgres/lq_bench_bench") == "postgres"
    assert meter.label(10, 10, "postgres/someone_else") == "other"
    assert meter.label(10, 10, "postgres/") == "postgres (server)"
    assert meter.label(10, 10, "redis-server") == "other"
    assert CpuMeter(redis_ours=True).label(10, 10, "redis-server") == "redis"
