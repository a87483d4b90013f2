"""`build_benchmark`: hold out exact-annotated scenes and write their QA (from exact boxes) as the benchmark."""

from __future__ import annotations

from runtime.offline import quiet_environment

quiet_environment()

from prefect import flow, get_run_logger, task  # noqa: E402

from schemas.benchmark import BenchmarkConfig  # noqa: E402
from training.benchmark import BenchmarkReport, build_benchmark_split  # noqa: E402


@task
def build_split(config: BenchmarkConfig) -> BenchmarkReport:
    return build_benchmark_split(config)


@flow(name="build-benchmark")
def build_benchmark(config: BenchmarkConfig) -> BenchmarkReport:
    """Choose held-out scenes, generate their exact QA, publish `benchmark` and `benchmark_scenes`."""
    report = build_split(config)
    logger = get_run_logger()
    logger.info("benchmark %s: %d QA over %d held-out scenes (%s) of %d exact scenes", report.run_id, report.n_qa,
                len(report.held_out), ", ".join(report.held_out), report.n_exact_scenes)
    for scene in report.skipped:
        logger.warning("skipped scene %s: %s", scene.scene_id, scene.reason)
    return report
