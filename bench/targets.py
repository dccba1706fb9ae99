"""The `targets` object of bench/results/latest.json (issue 14) and its TARGETS table. Pure functions of
the per-database results the suites return, so tests can hold the shape (tests/bench/test_targets.py).

Shape: every key of GOALS is always present; its value maps a database ("sqlite", "postgres") to
{"measured": number, "goal": number, "met": bool}, for each database the target applies to and
that measured it in this run (a phase skipped or failed leaves its database out; an empty object
then says "not measured"). Even a target of one database keeps that shape, e.g.
{"redis_round_trips_per_intake": {"postgres": {"measured": 1.98, "goal": 2, "met": true}}}.
"""

# key -> (the databases it applies to, goal by database, "min" = met when measured >= goal,
#         "max" = met when measured <= goal, what it is)
GOALS = {
    "intake_vs_obvious_rps": (("sqlite", "postgres"), {"sqlite": 3.0, "postgres": 3.0}, "min",
                              "intake req/s / obvious DRF intake req/s (alternating windows)"),
    "intake_vs_obvious_cpu": (("sqlite", "postgres"), {"sqlite": 0.33, "postgres": 0.33}, "max",
                              "intake CPU ms/req / obvious DRF intake CPU ms/req (same windows)"),
    "redis_round_trips_per_intake": (("postgres",), {"postgres": 2}, "max",
                                     "Redis round trips per intake (client-side count in gunicorn)"),
    "layer_cpu_overhead": (("sqlite", "postgres"), {"sqlite": 0.10, "postgres": 0.10}, "max",
                           "intake CPU ms/req with the layer on / off, minus 1 (alternating windows)"),
    "sustained_jobs_per_s": (("postgres",), {"postgres": 300}, "min",
                             "jobs finished per s, intake + cluster on the box, no growing backlog"),
    "drain_vs_raw": (("sqlite", "postgres"), {"sqlite": 1.5, "postgres": 1.5}, "min",
                     "demo.flow drain / raw django-q2 no-op drain (items/s)"),
    "pickup_p50_ms": (("sqlite", "postgres"), {"sqlite": 10, "postgres": 2}, "max",
                      "enqueue -> running p50 on an idle cluster (SQLite: the ORM broker)"),
    "pickup_p95_ms": (("postgres",), {"postgres": 5}, "max", "enqueue -> running p95 (Redis)"),
}

# How close finished/s must be to accepted/s for a sustained rate to count as sustained.
SUSTAINED_FINISHED_SHARE = 0.95


def verdict(measured: float, goal: float, direction: str) -> bool:
    return measured >= goal if direction == "min" else measured <= goal


def entry(key: str, db: str, measured: float | None, *, also: bool = True) -> dict | None:
    """{"measured", "goal", "met"} of one target on one database; None when not measured or not applicable.
    also: an extra condition the target needs besides its number (the sustained rate's backlog)."""
    dbs, goals, direction, _ = GOALS[key]
    if measured is None or db not in dbs:
        return None
    goal = goals[db]
    return {"measured": round(float(measured), 3), "goal": goal, "met": bool(verdict(measured, goal, direction) and also)}


def _get(mapping, *path):
    for part in path:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(part)
    return mapping


def ratio(a, b) -> float | None:
    return a / b if a and b else None


def measurements(result: dict) -> dict:
    """key -> (measured, extra condition) for one database's result; only what was measured."""
    out: dict = {}
    versus = _get(result, "intake", "vs_obvious") or {}
    ours, obvious = versus.get("ours") or {}, versus.get("obvious") or {}
    if ratio(ours.get("rps"), obvious.get("rps")) is not None:
        out["intake_vs_obvious_rps"] = (ours["rps"] / obvious["rps"], True)
    if ratio(ours.get("cpu_ms"), obvious.get("cpu_ms")) is not None:
        out["intake_vs_obvious_cpu"] = (ours["cpu_ms"] / obvious["cpu_ms"], True)
    redis = ours.get("redis_per_request") or {}
    if redis.get("round_trips") is not None and (result.get("settings") or {}).get("broker") == "redis":
        out["redis_round_trips_per_intake"] = (redis["round_trips"], True)
    layer = _get(result, "intake", "layer_cost") or {}
    on, off = layer.get("on") or {}, layer.get("off") or {}
    if on.get("cpu_ms") and off.get("cpu_ms"):
        out["layer_cpu_overhead"] = (on["cpu_ms"] / off["cpu_ms"] - 1, True)
    sustained = result.get("sustained") or {}
    if sustained.get("finished_per_s") is not None:
        out["sustained_jobs_per_s"] = (sustained["finished_per_s"], sustained_holds(sustained))
    raw, jobs = _get(result, "drain", "raw") or {}, _get(result, "drain", "jobs") or {}
    if raw.get("per_s") and jobs.get("per_s"):
        out["drain_vs_raw"] = (jobs["per_s"] / raw["per_s"], True)
    pickup = result.get("pickup") or {}
    if pickup.get("p50_ms") is not None:
        out["pickup_p50_ms"] = (pickup["p50_ms"], True)
    if pickup.get("p95_ms") is not None:
        out["pickup_p95_ms"] = (pickup["p95_ms"], True)
    return out


def sustained_holds(sustained: dict) -> bool:
    """A rate is sustained when the workers keep up: finished ~ accepted, and the backlog is not growing."""
    accepted, finished = sustained.get("accepted") or 0, sustained.get("finished") or 0
    keeps_up = accepted > 0 and finished >= SUSTAINED_FINISHED_SHARE * accepted
    return bool(keeps_up and sustained.get("backlog_growing") is False)


def targets_from(results: list[dict]) -> dict:
    """The targets object from the per-database results of one run (see the module docstring)."""
    out: dict = {key: {} for key in GOALS}
    for result in results:
        db = result.get("db")
        for key, (measured, also) in measurements(result).items():
            item = entry(key, db, measured, also=also)
            if item is not None:
                out[key][db] = item
    return out


def render(targets: dict) -> list[str]:
    """The TARGETS table: one line per target and database, measured against goal."""
    lines = ["TARGETS (issue 14; measured in this run)",
             f"  {'target':30s} {'database':9s} {'measured':>9s} {'goal':>9s}  met   what"]
    for key, (dbs, _, direction, what) in GOALS.items():
        per_db = targets.get(key) or {}
        for db in dbs:
            item = per_db.get(db)
            sign = ">=" if direction == "min" else "<="
            if item is None:
                lines.append(f"  {key:30s} {db:9s} {'-':>9s} {sign + ' ' + format(GOALS[key][1][db], 'g'):>9s}  "
                             f"n/a   not measured in this run")
                continue
            lines.append(f"  {key:30s} {db:9s} {item['measured']:9.3f} {sign + ' ' + format(item['goal'], 'g'):>9s}  "
                         f"{'YES ' if item['met'] else 'NO  '}  {what}")
    return lines
