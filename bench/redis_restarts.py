"""bench/redis_restarts: does a Celery worker keep consuming while its Redis is killed and restarted, again and again?

A worker (as the Procfile runs it, with this project's settings and broker transport) on a redis-server of its own;
then, `--cycles` times: a few tasks published, Redis killed at a random moment and restarted empty on the same
port after a random pause, and a task published until the worker receives one (30 s at most). It prints each
cycle, and stops at the first cycle after which the worker consumes nothing (or exited), with its log's path.

    .venv/bin/python bench/redis_restarts.py [--cycles 60] [--seed N]

With kombu 5.7's own Redis transport (before config.broker) the worker exited with "Unrecoverable error:
AttributeError" within a few dozen cycles, in every run. Everything on 127.0.0.1: a database of its own
(`statuspage_bench_restarts`, dropped and created) and a redis-server on a free port.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from tests.processes import CeleryProcess, RedisServer, app_env  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=60)
    parser.add_argument("--database", default="statuspage_bench_restarts")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    server = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
    drop = f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)"
    subprocess.run(["psql", f"{server}/postgres", "-qc", drop], check=True)
    subprocess.run(["psql", f"{server}/postgres", "-qc", f"CREATE DATABASE {args.database}"], check=True)
    redis = RedisServer().start()
    env = app_env(database_url=f"{server}/{args.database}", redis_url=redis.url)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    from config.celery import app

    call_command("migrate", verbosity=0)
    worker = CeleryProcess("worker", env).start()

    def received() -> int:
        return worker.log.read_text(errors="replace").count("Task notifications.sweep[")

    def publish() -> None:
        try:
            app.send_task("notifications.sweep", queue="notifications", retry=False)
        except Exception:  # Redis not back yet
            pass

    stuck = None
    try:
        for cycle in range(1, args.cycles + 1):
            for _ in range(rng.randint(0, 3)):
                publish()  # tasks in flight at the kill
            time.sleep(rng.uniform(0, 0.3))
            redis.kill()
            time.sleep(rng.uniform(0.05, 2.0))
            redis.start()
            before, deadline, consumed = received(), time.monotonic() + 30, False
            while time.monotonic() < deadline and worker.process and worker.process.poll() is None:
                publish()
                time.sleep(1)
                if received() > before:
                    consumed = True
                    break
            print(f"cycle {cycle:>3}: {'consuming' if consumed else 'STUCK'}", flush=True)
            if not consumed:
                stuck = cycle
                break
    finally:
        worker.kill()
        redis.stop()
    if stuck is None:
        print(f"The worker consumed after each of {args.cycles} restarts.")
    else:
        print(f"The worker stopped consuming after restart {stuck}; its log: {worker.log}")
        sys.exit(1)


if __name__ == "__main__":
    main()
