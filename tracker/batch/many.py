"""Many inputs at once: ``track_many`` runs one Ray task per ``TrackJob`` (``cluster.py``),
each writing its outputs atomically.

A task tracks into a staging folder beside the outputs and renames the finished files into
place, then leaves a marker; a task whose worker dies is retried by Ray and starts again from
its input (a killed task leaves no half file in the output folder), and a retried task whose
marker exists returns what it wrote without redoing it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..config import TrackerConfig
from ..errors import SourceError
from .cluster import run_tasks
from .tracking import JobReport, TrackJob, track_job


@dataclass(frozen=True)
class TrackerRecipe:
    """How a worker builds its tracker (``SiamFCMultiTracker.from_pretrained``'s arguments)."""

    weights: str | None = None
    device: str = "cpu"
    config: TrackerConfig | None = None
    backbone: str | None = None
    dtype: str = "auto"
    head: str = "xcorr"
    runtime: str = "auto"

    def build(self):
        from ..siamfc import SiamFCMultiTracker
        return SiamFCMultiTracker.from_pretrained(self.weights, device=self.device,
                                                  config=self.config, backbone=self.backbone,
                                                  dtype=self.dtype, head=self.head,
                                                  runtime=self.runtime)


_TRACKERS: dict[TrackerRecipe, object] = {}    # per worker process, built once


def job_key(job: TrackJob) -> str:
    """A name for ``job`` unique among a run's jobs (its input and outputs)."""
    text = json.dumps([job.source, job.outputs, job.start_frame, job.max_frames])
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def run_job(job: TrackJob, recipe: TrackerRecipe, staging: str, threads: int = 1,
            crash_once: str | None = None) -> JobReport:
    """Track ``job`` (all outputs in one folder) into a fresh folder under ``staging``, then
    rename its files into the output folder and mark it done; a bad input comes back as the
    report's ``error`` with nothing written. ``crash_once`` (tests only): a file path; when it
    does not exist yet, the worker creates it and exits at the job's third frame."""
    import torch
    done = Path(staging) / "done" / f"{job_key(job)}.json"
    if done.is_file():                            # finished before this retry
        return JobReport(**json.loads(done.read_text(encoding="utf-8")))
    torch.set_num_threads(max(1, threads))
    final = Path(job.outputs[0]).parent
    work = Path(staging) / f"{job_key(job)}-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    rebased = dataclasses.replace(
        job, box_files=tuple((str(work / Path(p).name), f) for p, f in job.box_files),
        video=str(work / Path(job.video).name) if job.video else None,
        frames_dir=str(work / Path(job.frames_dir).name) if job.frames_dir else None)

    def on_frame(index: int, frame, results) -> None:
        if crash_once and index - job.start_frame == 2 and not os.path.exists(crash_once):
            Path(crash_once).touch()
            os._exit(1)

    tracker = _TRACKERS.get(recipe)
    if tracker is None:
        tracker = _TRACKERS[recipe] = recipe.build()
    try:
        report = track_job(rebased, tracker, on_frame=on_frame)
    except Exception as exc:        # a bad input: its one line, the other jobs go on
        shutil.rmtree(work, ignore_errors=True)
        known = isinstance(exc, (ValueError, OSError, SourceError))
        return JobReport(job.source, error=str(exc) if known else f"{type(exc).__name__}: {exc}")
    final.mkdir(parents=True, exist_ok=True)
    for item in sorted(work.iterdir()):
        target = final / item.name
        if target.is_dir() and item.is_dir():
            shutil.rmtree(target)
        os.replace(item, target)
    work.rmdir()
    report.written = [str(final / Path(p).name) for p in report.written]
    done.parent.mkdir(parents=True, exist_ok=True)
    tmp = done.with_suffix(".tmp")
    tmp.write_text(json.dumps(dataclasses.asdict(report)), encoding="utf-8")
    os.replace(tmp, done)
    return report


def track_many(jobs: Sequence[TrackJob], recipe: TrackerRecipe, address: str | None = None,
               num_cpus: float = 1, num_gpus: float = 0,
               on_done: Callable[[int, JobReport], None] | None = None,
               crash_once: str | None = None) -> list[JobReport]:
    """Track every job as a Ray task (``address``: None starts a local Ray instance; ``auto``
    or ``ray://host:10001`` joins a cluster) of ``num_cpus`` CPUs (its torch threads) and
    ``num_gpus`` GPUs; every job's outputs in one folder, on storage every node sees. Returns
    the reports in the jobs' order; ``on_done(index, report)`` as each finishes."""
    if not jobs:
        return []
    folders = {str(Path(j.outputs[0]).parent) if j.outputs else "" for j in jobs}
    if "" in folders or any(len({str(Path(p).parent) for p in j.outputs}) > 1 for j in jobs):
        raise ValueError("each job needs its outputs, all in one folder")
    stagings = {f: str(Path(f) / f".siamfc-staging-{uuid.uuid4().hex[:8]}") for f in folders}
    reports: list[JobReport | None] = [None] * len(jobs)
    calls = [(j, recipe, stagings[str(Path(j.outputs[0]).parent)], max(1, int(num_cpus)),
              crash_once) for j in jobs]
    try:
        for i, report in run_tasks(run_job, calls, address, num_cpus, num_gpus):
            reports[i] = report
            if on_done is not None:
                on_done(i, report)
    finally:
        for staging in stagings.values():
            shutil.rmtree(staging, ignore_errors=True)
    return [r for r in reports if r is not None]

