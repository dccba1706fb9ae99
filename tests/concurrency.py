"""Run one function in several threads at once, released together by a barrier, each with its
own database connection (closed afterwards), as concurrent requests would."""

import threading

from django.db import connection


def run_together(fn, *, threads: int = 2, timeout: float = 30) -> tuple[list, list]:
    """(results, errors) of `threads` simultaneous calls of fn()."""
    barrier = threading.Barrier(threads)
    results, errors = [], []

    def run():
        try:
            barrier.wait(timeout=10)
            results.append(fn())
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=timeout)
    errors += [TimeoutError(f"a call did not finish in {timeout} s") for worker in workers if worker.is_alive()]
    return results, errors
