"""Benchmark: a firm-sized world end to end, in a scratch clone with its own database.

Issue 18's proof: from the API into features, trained and scored, with the bytes on
disk. Every step is one of the other benchmarks, run in a clone of this repository's
``HEAD`` under ``--workdir`` (its own ``.venv``, embedded PostgreSQL, cold tiers and
MLflow store), whose ``conf/local`` describes the world, so the project's own
``data/`` is not touched and every ``kedro run`` there serves the same world:

========== ==================================================================== ======
step       what runs                                                            target
========== ==================================================================== ======
load       ``bulk_load.py --leave-days 1``: the world (no oracle); accounts, daily
           metrics, open trades and regimes through the ingestion pipeline; closed
           trades and hourly metrics by binary COPY, all but the newest day
build      ``features.py``: full build of staging, features, targets; then one   900 s
           incremental day                                                       30 s
day        ``features.py --day-only``: the newest day again, over the built        30 s
           tables (one day measured again without a full build first)
training   ``training.py``: ``--trials`` Optuna trials on the newest             1800 s
           ``--history-days``
morning    ``daily_run.py --run-date <newest day> --accounts 0``: ingest that day 300 s
           from the API, features, score every live account with the champion and
           every shadow, evaluation, report
storage    ``storage.py``: bytes per table and per closed trade                  500 B
ingestion  ``ingestion.py``: the client's CPU per row against replayed pages      8 µs
           (its own 5,000-trader world) and end to end against a raw COPY        0.5x
========== ==================================================================== ======

Each step's figures are kept in ``<workdir>/figures.json`` as soon as it ends; run the
same command again and the steps already done are skipped (``--redo STEP`` runs one
again), so a world too large for one sitting is measured over several. Peak memory per
step: the largest process of the step's own tree (``wait4``), and the largest
PostgreSQL process, sampled every second (its RSS counts the shared buffers it has
touched). ``--clean`` stops the clone's database and deletes the workdir at the end.

Usage:
    uv run python benchmarks/scale.py --workdir /tmp/dpm-scale --n-traders 460000 \\
        --n-days 750      # about 86 M closed trades (20,000 x 750: 187.8 a trader)
    uv run python benchmarks/scale.py --workdir /tmp/dpm-scale --clean   # when done
Last line: JSON with closed trades, account days, bytes per table and per closed trade,
each step's seconds and peak memory, and the ingestion figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import psutil
import yaml

PROJECT = Path(__file__).resolve().parents[1]
STEPS = ("load", "build", "day", "training", "morning", "storage", "ingestion")
TARGETS = {
    "full_build_s": 900,
    "incremental_day_s": 30,
    "morning_s": 300,
    "training_30_trials_s": 1800,
    "bytes_per_closed_trade": 500,
    "client_cpu_us_per_row": 8,
    "end_to_end_vs_raw_copy": 0.5,
    "peak_rss_mib": 6144,
}
logger = logging.getLogger("scale")


class _PostgresPeak(threading.Thread):
    """The largest RSS of any PostgreSQL process serving ``pgdata``, sampled."""

    def __init__(self, pgdata: Path) -> None:
        super().__init__(daemon=True)
        self._pgdata = str(pgdata)
        self._done = threading.Event()
        self.peak_bytes = 0

    def _postgres(self) -> list[psutil.Process]:
        for process in psutil.process_iter(["name", "cmdline"]):
            cmdline = process.info["cmdline"] or []
            if process.info["name"] == "postgres" and self._pgdata in cmdline:
                return [process, *process.children(recursive=True)]
        return []

    def run(self) -> None:
        while not self._done.wait(1.0):
            for process in self._postgres():
                try:
                    rss = process.memory_info().rss
                except psutil.Error:
                    continue
                self.peak_bytes = max(self.peak_bytes, rss)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak_bytes


class Clone:
    """The scratch clone the steps run in, and the figures they left."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.path = workdir / "project"
        self.figures_path = workdir / "figures.json"

    def figures(self) -> dict:
        if self.figures_path.exists():
            return json.loads(self.figures_path.read_text())
        return {}

    def keep(self, step: str, figures: dict) -> None:
        kept = self.figures()
        kept[step] = figures
        self.figures_path.write_text(json.dumps(kept, indent=1))

    def create(self, world: dict) -> str:
        """Clone HEAD (once), sync its environment, describe the world in conf/local."""
        if not self.path.exists():
            self.workdir.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["git", "clone", "--quiet", str(PROJECT), str(self.path)], check=True
            )
        else:  # a resumed run takes this repository's newest commit
            subprocess.run(
                ["git", "pull", "--quiet", "--ff-only"], cwd=self.path, check=True
            )
        subprocess.run(
            ["uv", "sync", "--locked", "--python", "3.11", "--quiet"],
            cwd=self.path,
            check=True,
        )
        sandbox = yaml.safe_load(
            (self.path / "conf/base/parameters_sandbox.yml").read_text()
        )
        sandbox["sandbox"].update(world)
        local = self.path / "conf/local/parameters_sandbox.yml"
        local.write_text(yaml.safe_dump(sandbox, sort_keys=False))
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=self.path,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    def run(self, step: str, script: str, *args: str) -> dict:
        """Run ``benchmarks/<script>`` in the clone; its JSON, seconds and peaks."""
        log = self.workdir / f"{step}.log"
        command = ["uv", "run", "--no-sync", "python", f"benchmarks/{script}", *args]
        logger.info("%s: %s (log: %s)", step, " ".join(command), log)
        sampler = _PostgresPeak(self.path / "data/postgres")
        sampler.start()
        started = time.perf_counter()
        with log.open("a") as out:  # a resumed step keeps its earlier runs
            child = subprocess.Popen(
                command,
                cwd=self.path,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"},
            )
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        postgres_peak = sampler.stop()
        lines = log.read_text().splitlines()
        if child.returncode != 0 or not lines:
            tail = "\n".join(lines[-20:])
            raise RuntimeError(
                f"step {step} failed (exit {child.returncode}); log {log}:\n{tail}"
            )
        figures = json.loads(lines[-1])
        return {
            "seconds": round(seconds, 1),
            "peak_rss_mib": round(usage.ru_maxrss / 1024),
            "postgres_peak_rss_mib": round(postgres_peak / 2**20),
            "figures": figures,
        }

    def stop_database(self) -> None:
        if (self.path / "data/postgres").exists():
            subprocess.run(
                ["uv", "run", "--no-sync", "kedro", "db", "stop"],
                cwd=self.path,
                check=False,
                env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"},
            )


def _step_arguments(args: argparse.Namespace, done: dict) -> dict[str, list[str]]:
    world = ["--n-traders", str(args.n_traders), "--n-days", str(args.n_days)]
    last_day = done.get("load", {}).get("figures", {}).get("world_last_day")
    return {
        "load": ["bulk_load.py", *world, "--seed", str(args.seed), "--leave-days", "1"],
        "build": ["features.py"]
        + (["--engine", args.build_engine] if args.build_engine else [])
        + (["--buckets", str(args.build_buckets)] if args.build_buckets else [])
        + (
            ["--memory-limit", args.build_memory_limit]
            if args.build_memory_limit
            else []
        ),
        "day": ["features.py", "--day-only"],
        "training": [
            "training.py",
            "--trials",
            str(args.trials),
            "--history-days",
            str(args.history_days),
            "--timeout-s",
            str(args.training_timeout_s),
        ],
        "morning": ["daily_run.py", "--accounts", "0"]
        + (["--run-date", last_day] if last_day else []),
        "storage": ["storage.py"],
        "ingestion": ["ingestion.py"],
    }


def _summary(figures: dict, commit: str, world: dict) -> dict:
    """The issue's one line: sizes, each step's seconds and peaks, the targets."""

    def of(step: str) -> dict:
        return figures.get(step, {}).get("figures", {})

    storage, build, day = of("storage"), of("build"), of("day")
    morning, training, ingestion = of("morning"), of("training"), of("ingestion")
    steps = {
        step: {k: v for k, v in figures[step].items() if k != "figures"}
        for step in STEPS
        if step in figures
    }
    return {
        "commit": commit,
        "world": world,
        "closed_trades": storage.get("closed_trades"),
        "account_days": storage.get("account_days"),
        "bytes_per_closed_trade": storage.get("bytes_per_closed_trade"),
        "bytes_per_table": {
            name: table["bytes"] for name, table in storage.get("tables", {}).items()
        },
        "parquet_bytes": storage.get("parquet_bytes"),
        "load": of("load"),
        "full_build_s": build.get("full_build_s"),
        "full_build_db_s": build.get("full_build_db_s"),
        # the day step's, when it ran (a later commit than the build's)
        "incremental_day_s": day.get(
            "incremental_day_s", build.get("incremental_day_s")
        ),
        "incremental_day_db_s": day.get(
            "incremental_day_db_s", build.get("incremental_day_db_s")
        ),
        "training_s": training.get("training_s"),
        "training_trials_run": training.get("trials_run"),
        "training_tuning_s": training.get("tuning_s"),
        "training_tuning_train_rows": training.get("tuning_train_rows"),
        "training_history_days": training.get("history_days"),
        "morning_s": morning.get("default_world", {}).get("total_s"),
        "morning_stages_s": morning.get("default_world", {}).get("stages_s"),
        "morning_predictions": morning.get("default_world", {}).get("predictions"),
        "ingestion": {
            k: ingestion.get(k)
            for k in ("cpu_us_per_row", "end_to_end_vs_raw_copy", "rows")
            if k in ingestion
        },
        "steps": steps,
        "peak_rss_mib": max((s["peak_rss_mib"] for s in steps.values()), default=None),
        "targets": TARGETS,
    }


def main() -> None:
    """Run the steps not done yet; print the figures of all of them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--n-traders", type=int, default=460_000)
    parser.add_argument("--n-days", type=int, default=750)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--chunk-days",
        type=int,
        default=5,
        help="days the sandbox simulates between two writes (its memory: the "
        "project's 20 took 11.6 GiB by day 20 of the 460,000-trader world)",
    )
    parser.add_argument(
        "--build-engine",
        default=None,
        help="full build's engine (features.py --engine)",
    )
    parser.add_argument("--build-buckets", type=int, default=None, help="DuckDB's")
    parser.add_argument("--build-memory-limit", default=None, help="DuckDB's")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--history-days", type=int, default=183)
    parser.add_argument("--training-timeout-s", type=int, default=1800)
    parser.add_argument("--steps", default=",".join(STEPS), help="which, in order")
    parser.add_argument("--redo", action="append", default=[], choices=STEPS)
    parser.add_argument(
        "--clean",
        action="store_true",
        help="print the figures kept, stop the database, delete the workdir; no step",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    clone = Clone(args.workdir)
    kept = clone.figures()
    if args.clean:
        summary = _summary(kept, kept.get("load", {}).get("commit"), kept.get("world"))
        clone.stop_database()
        shutil.rmtree(args.workdir, ignore_errors=True)
        logger.info("%s: database stopped, deleted", args.workdir)
        print(json.dumps(summary))
        return
    world = {
        "seed": args.seed,
        "n_traders": args.n_traders,
        "n_days": args.n_days,
        "oracle_scenarios": 0,
        "chunk_days": args.chunk_days,
    }
    if kept.get("world", world) != world:
        raise SystemExit(
            f"{args.workdir} holds another world ({kept['world']}): "
            "pass its arguments, or another --workdir, or --clean it first"
        )
    commit = clone.create(world)
    clone.keep("world", world)
    for step in [s for s in args.steps.split(",") if s]:
        if step not in STEPS:
            raise SystemExit(f"--steps: unknown step {step!r}; the steps: {STEPS}")
        if step in clone.figures() and step not in args.redo:
            logger.info("%s: done before, kept (--redo %s runs it again)", step, step)
            continue
        script, *arguments = _step_arguments(args, clone.figures())[step]
        figures = clone.run(step, script, *arguments)
        figures["commit"] = commit
        clone.keep(step, figures)
        logger.info(
            "%s: %.1f s, peak RSS %d MiB (PostgreSQL %d MiB)",
            step,
            figures["seconds"],
            figures["peak_rss_mib"],
            figures["postgres_peak_rss_mib"],
        )
    summary = _summary(clone.figures(), commit, world)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
