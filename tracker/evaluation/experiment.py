"""Run trackers over sequences and score them, in the GOT-10k toolkit's layout.

results/<tracker>/<seq>.txt          comma-separated x,y,w,h (0-based), 3 decimals
results/<tracker>/times/<seq>_time.txt   seconds per frame (frame 0: init)
results/<tracker>/scores/<seq>_score.txt   per frame: score, peak, lost and the response cues
                                     (trackers that report them; see failures.py)
results/<tracker>/provenance.json    versions, weights, precision and CPU that made them
reports/<tracker>/performance.json   {tracker: {overall: {...}, seq_wise: {...}}}
reports/report.md, success_plots.png, precision_plots.png   all trackers side by side
"""
from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..datasets.base import Sequence
from ..siamfc import SiamFCTracker
from .adapters import Tracker, TrackerSpec, make_tracker, opencv_factory
from ..confidence import CUES
from ..geometry import iou_ltwh
from .failures import FailureStats, failure_stats
from .metrics import (PRECISION_THRESHOLDS, SUCCESS_THRESHOLDS, SequenceResult,
                       evaluate_sequence, overall)
from .provenance import FILE as RESULTS_PROVENANCE
from .provenance import differences, provenance, read_provenance, write_provenance


@dataclass(frozen=True)
class RunOutcome:
    tracker: str
    sequence: str
    ok: bool
    message: str = ""
    reused: bool = False


SCORE_COLUMNS = ("score", "peak", "lost") + tuple(f"cue_{c}" for c in CUES)


def track_sequence(tracker: Tracker | SiamFCTracker, seq: Sequence
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(N, 4) boxes, (N,) seconds per frame and, for trackers whose results carry a score,
    (N, len(SCORE_COLUMNS)) scores (else None); frame 0 is the box the tracker starts from
    (``seq.start_box``: the ground truth's unless perturbed; score 1, not lost, no cues: NaN).

    Raises ``ValueError`` naming the image file when a frame cannot be read.
    """
    n = len(seq.frames)
    boxes = np.full((n, 4), np.nan)
    times = np.zeros(n)
    scores = np.full((n, len(SCORE_COLUMNS)), np.nan)
    scores[0, :3] = (1.0, 1.0, 0.0)
    scored = False
    for i, path in enumerate(seq.frames):
        frame = cv2.imread(path, cv2.IMREAD_COLOR)
        if frame is None:
            raise ValueError(f"{path}: cannot read image (frame {i} of {seq.name})")
        start = time.perf_counter()
        if i == 0:
            tracker.init(frame, seq.start_box)
            boxes[0] = seq.start_box
        else:
            result = tracker.update(frame)          # a box, or a TrackResult
            boxes[i] = getattr(result, "box", result)
            if hasattr(result, "score"):
                scored = True
                cues = getattr(result, "cues", None) or {}
                scores[i] = [result.score, getattr(result, "peak", np.nan),
                             float(getattr(result, "lost", False))] + [
                    cues.get(c, np.nan) for c in CUES]
        times[i] = time.perf_counter() - start
    return boxes, times, scores if scored else None


def save_results(results_dir: Path, tracker: str, seq: str, boxes: np.ndarray, times: np.ndarray,
                 scores: np.ndarray | None = None) -> None:
    folder = results_dir / tracker
    (folder / "times").mkdir(parents=True, exist_ok=True)
    if scores is not None:
        (folder / "scores").mkdir(exist_ok=True)
        _save_atomic(folder / "scores" / f"{seq}_score.txt", scores, fmt="%.6g",
                     delimiter=",", header=",".join(SCORE_COLUMNS))
    _save_atomic(folder / "times" / f"{seq}_time.txt", times, fmt="%.8f")
    # the boxes last: their file says "done"
    _save_atomic(folder / f"{seq}.txt", boxes, fmt="%.3f", delimiter=",")


def _save_atomic(path: Path, values: np.ndarray, **kwargs) -> None:
    """``np.savetxt`` into a temporary file renamed into place (a killed writer, e.g. a Ray
    task whose worker died, leaves no half file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    np.savetxt(tmp, values, **kwargs)
    os.replace(tmp, path)


def load_scores(results_dir: Path, tracker: str, seq: str) -> dict[str, np.ndarray] | None:
    """The stored per-frame scores of ``tracker`` on ``seq`` by column name; None when absent."""
    path = results_dir / tracker / "scores" / f"{seq}_score.txt"
    if not path.is_file():
        return None
    with open(path) as fh:
        names = fh.readline().lstrip("#").strip().split(",")
    values = np.loadtxt(path, delimiter=",", ndmin=2)
    return {name: values[:, k] for k, name in enumerate(names)}


def load_results(results_dir: Path, tracker: str, seq: str) -> tuple[np.ndarray, np.ndarray | None]:
    path = results_dir / tracker / f"{seq}.txt"
    text = path.read_text().replace("\t", ",").replace(" ", ",")
    boxes = np.array([[float(v) for v in line.split(",") if v] for line in text.splitlines()
                      if line.strip()], dtype=np.float64).reshape(-1, 4)
    tfile = results_dir / tracker / "times" / f"{seq}_time.txt"
    times = np.loadtxt(tfile, ndmin=1) if tfile.is_file() else None
    return boxes, times


_WORKER_TRACKERS: dict[str, Tracker] = {}


def _worker_init(threads: int) -> None:
    import torch
    torch.set_num_threads(max(1, threads))
    cv2.setNumThreads(1)


def _run_one_threaded(spec: TrackerSpec, seq: Sequence, results_dir: str,
                      threads: int) -> RunOutcome:
    """``_run_one`` in a Ray task of ``threads`` CPUs."""
    _worker_init(threads)
    return _run_one(spec, seq, results_dir)


def _run_one(spec: TrackerSpec, seq: Sequence, results_dir: str) -> RunOutcome:
    try:
        tracker = _WORKER_TRACKERS.get(spec.label)
        if tracker is None:
            tracker = _WORKER_TRACKERS[spec.label] = make_tracker(spec)
        boxes, times, scores = track_sequence(tracker, seq)
        save_results(Path(results_dir), spec.label, seq.name, boxes, times, scores)
        return RunOutcome(spec.label, seq.name, True)
    except Exception as exc:  # reported per sequence; the others still run
        return RunOutcome(spec.label, seq.name, False, f"{type(exc).__name__}: {exc}")


class Experiment:
    """Runs ``specs`` over ``sequences`` into ``results_dir`` and reports into ``report_dir``."""

    def __init__(self, sequences: list[Sequence], results_dir: str | os.PathLike = "results",
                 report_dir: str | os.PathLike = "reports") -> None:
        self.sequences = sequences
        self.results_dir = Path(results_dir)
        self.report_dir = Path(report_dir)
        self._now: dict[str, dict] = {}       # label -> provenance(spec), hashed once

    def _provenance(self, spec: TrackerSpec) -> dict:
        """What makes ``spec``'s results here (``provenance``; the weights hashed once)."""
        if spec.label not in self._now:
            self._now[spec.label] = provenance(spec)
        return self._now[spec.label]

    def run(self, specs: list[TrackerSpec], workers: int = 1, overwrite: bool = False,
            on_done: Callable[[RunOutcome], None] | None = None,
            ray: str | None = None, ray_cpus: int = 1) -> list[RunOutcome]:
        """Track every sequence with every tracker (reusing stored results unless
        ``overwrite``); returns one outcome per (tracker, sequence). ValueError, before anything
        runs, for an OpenCV tracker that cannot be built here (not in this OpenCV build, or its
        ONNX file is missing). A ``dtype="auto"`` spec
        runs, and is stored, as the precision it resolves to (``TrackerSpec.resolved``)."""
        specs = [spec.resolved() for spec in specs]
        self.check(specs, overwrite)
        outcomes: list[RunOutcome] = []
        todo = []
        for spec in specs:
            for seq in self.sequences:
                if not overwrite and (self.results_dir / spec.label / f"{seq.name}.txt").is_file():
                    outcome = RunOutcome(spec.label, seq.name, True, reused=True)
                    outcomes.append(outcome)
                    if on_done:
                        on_done(outcome)
                else:
                    todo.append((spec, seq))
        for spec in {spec.label: spec for spec, _ in todo}.values():
            folder = self.results_dir / spec.label
            if overwrite or not self._stored(spec) or read_provenance(folder) is not None:
                write_provenance(folder, self._provenance(spec))     # what makes these results
        if ray is not None:     # one Ray task per (tracker, sequence); "local": a new instance
            from ..batch.cluster import run_tasks
            calls = [(spec, seq, str(self.results_dir), ray_cpus) for spec, seq in todo]
            for _, outcome in run_tasks(_run_one_threaded, calls,
                                        None if ray == "local" else ray, num_cpus=ray_cpus,
                                        num_gpus=1 if any(spec.device.startswith("cuda")
                                                          for spec in specs) else 0):
                outcomes.append(outcome)
                if on_done:
                    on_done(outcome)
            return outcomes
        if workers <= 1:
            for spec, seq in todo:
                outcome = _run_one(spec, seq, str(self.results_dir))
                outcomes.append(outcome)
                if on_done:
                    on_done(outcome)
            return outcomes
        threads = max(1, (os.cpu_count() or 1) // workers)
        # spawn, not fork: forking a process whose OpenMP pool has run can deadlock the child
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init,
                                 initargs=(threads,)) as pool:
            futures = [pool.submit(_run_one, spec, seq, str(self.results_dir)) for spec, seq in todo]
            for future in as_completed(futures):
                outcome = future.result()
                outcomes.append(outcome)
                if on_done:
                    on_done(outcome)
        return outcomes

    def stored_trackers(self) -> list[str]:
        """The results folders in ``results_dir`` holding results of any of the sequences
        (sorted): what a report of this results dir covers."""
        if not self.results_dir.is_dir():
            return []
        return sorted(p.name for p in self.results_dir.iterdir() if p.is_dir() and any(
            (p / f"{seq.name}.txt").is_file() for seq in self.sequences))

    def _stored(self, spec: TrackerSpec) -> list[str]:
        """Sequences of ``spec`` whose results are stored already."""
        folder = self.results_dir / spec.label
        return [seq.name for seq in self.sequences if (folder / f"{seq.name}.txt").is_file()]

    def check(self, specs: list[TrackerSpec], overwrite: bool = False) -> None:
        """``ValueError`` before anything runs: an OpenCV tracker that cannot be built here (not
        in this OpenCV build, or its ONNX file is missing), or stored results that were made
        with other versions, weights, precision or CPU and would be reused (``overwrite``
        redoes them). ``specs`` resolved (no ``auto``)."""
        for spec in specs:
            stored = [] if overwrite else self._stored(spec)
            if spec.name.startswith("opencv-") and len(stored) < len(self.sequences):
                opencv_factory(spec)
            made = read_provenance(self.results_dir / spec.label) if stored else None
            if made is not None:
                changed = differences(made, self._provenance(spec))
                if changed:
                    raise ValueError(
                        f"{self.results_dir / spec.label} holds results made with "
                        f"{'; '.join(changed)}; run with --overwrite to redo them, or give "
                        "another --results-dir")

    def score(self, tracker: str) -> tuple[dict[str, SequenceResult], list[str]]:
        """Per-sequence results of ``tracker`` from its stored files, and problems found."""
        per_seq: dict[str, SequenceResult] = {}
        problems: list[str] = []
        for seq in self.sequences:
            path = self.results_dir / tracker / f"{seq.name}.txt"
            if not path.is_file():
                problems.append(f"{path}: missing")
                continue
            try:
                boxes, times = load_results(self.results_dir, tracker, seq.name)
                if len(boxes) != len(seq.boxes):
                    raise ValueError(f"{len(boxes)} boxes for {len(seq.boxes)} frames")
                per_seq[seq.name] = evaluate_sequence(boxes, seq.boxes, times)
            except (ValueError, OSError) as exc:
                problems.append(f"{path}: {exc}")
        return per_seq, problems

    def report(self, trackers: list[str], plots: bool = True, dataset: str = "",
               command: str = "", earlier: list[str] | None = None) -> dict:
        """Write performance.json per tracker, report.md (headed by ``dataset``, the sequences,
        what made each tracker's results and ``command``) and the plots; return the numbers.
        ``earlier``: more trackers whose results are stored from earlier runs, reported too
        (and named as such)."""
        earlier = [name for name in (earlier or []) if name not in trackers]
        trackers = list(trackers) + earlier
        performance: dict = {}
        problems: list[str] = []
        for name in trackers:
            per_seq, probs = self.score(name)
            problems.extend(probs)
            if not per_seq:
                continue
            total = overall(list(per_seq.values()))
            performance[name] = {"overall": total.as_dict(),
                                 "seq_wise": {k: v.as_dict() for k, v in per_seq.items()}}
            folder = self.report_dir / name
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / "performance.json", "w") as fh:
                json.dump({name: performance[name]}, fh, indent=2)
        self.report_dir.mkdir(parents=True, exist_ok=True)
        made = {name: read_provenance(self.results_dir / name) for name in performance}
        header = report_header(dataset, self.sequences, made, command,
                               [name for name in earlier if name in performance])
        confidence = {name: self.failures(name) for name in performance}
        confidence = {name: c for name, c in confidence.items() if c is not None}
        for name, (stats, _) in confidence.items():
            with open(self.report_dir / name / "failures.json", "w") as fh:
                json.dump({name: {k: v.as_dict() for k, v in stats.items()}}, fh, indent=2)
        (self.report_dir / "report.md").write_text(
            header + markdown_table(performance, problems)
            + failures_table({name: stats for name, (stats, _) in confidence.items()}))
        if plots and performance:
            plot_curves(performance, self.report_dir)
            for name, (_, series) in confidence.items():
                plot_confidence(series, self.report_dir / name / "confidence")
        return performance

    def failures(self, tracker: str) -> tuple[dict[str, FailureStats], dict] | None:
        """The failure-detection figures of ``tracker`` (``failures.py``) over the sequences
        with stored scores: ``({"score": stats, "peak": ..., "cue_<name>": ...}, series)``
        with series ``{seq: (iou, score, lost)}`` for the plots; None without scores. Only
        ``score`` uses the tracker's own lost flags; the others rank frames only."""
        series: dict[str, tuple] = {}
        columns: dict[str, list] = {}
        for seq in self.sequences:
            scores = load_scores(self.results_dir, tracker, seq.name)
            if scores is None:
                continue
            boxes, _ = load_results(self.results_dir, tracker, seq.name)
            if len(boxes) != len(seq.boxes) or len(scores["score"]) != len(seq.boxes):
                continue
            iou = iou_ltwh(boxes, seq.boxes)
            iou[~np.isfinite(np.asarray(seq.boxes, np.float64)).all(axis=1)] = np.nan
            lost = scores["lost"] > 0.5
            series[seq.name] = (iou, scores["score"], lost)
            for name, values in scores.items():
                if name != "lost" and np.isfinite(values[1:]).all():
                    columns.setdefault(name, []).append((iou, values, lost))
        if not series:
            return None
        stats = {name: failure_stats(triples) for name, triples in columns.items()
                 if len(triples) == len(series)}
        return stats, series


def report_header(dataset: str, sequences: list[Sequence], made: dict[str, dict | None],
                  command: str = "", earlier: list[str] | None = None) -> str:
    """The top of report.md: title, dataset, sequences and frames, date, command, which
    trackers it covers (``earlier``: those whose results come from earlier runs), and per
    tracker what made its results (versions, weights, precision, CPU)."""
    frames = sum(len(s.frames) for s in sequences)
    lines = [f"# Tracking results{f': {Path(dataset).name}' if dataset else ''}", "",
             f"- dataset: `{dataset or 'unknown'}`, {len(sequences)} sequences, {frames} frames",
             f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}"]
    if command:
        lines.append(f"- command: `{command}`")
    ran = [name for name in made if name not in (earlier or [])]
    lines.append(f"- trackers: {', '.join(ran) or 'none'}" + (
        f"; with results from earlier runs in the same results folder: {', '.join(earlier)}"
        if earlier else ""))
    lines += ["", "| tracker | precision | weights (sha256) | siamfc | torch | OpenCV | CPU |",
              "|---|---|---|---|---|---|---|"]
    for name, info in made.items():
        if info is None:
            lines.append(f"| {name} | unknown provenance (no {RESULTS_PROVENANCE}) | | | | | |")
            continue
        weights = (f"{Path(info['weights']).name} ({str(info.get('weights_sha256', ''))[:12]})"
                   if info.get("weights") else "-")
        lines.append(f"| {name} | {info.get('precision', '-')} on {info.get('device', 'cpu')} | "
                     f"{weights} | {info.get('siamfc')} | {info.get('torch')} | "
                     f"{info.get('opencv')} | {info.get('cpu')} |")
    return "\n".join(lines) + "\n\n"


def markdown_table(performance: dict, problems: list[str] | None = None) -> str:
    """An overall table (AUC, precision@20, normalised precision, fps per tracker), then one
    row per sequence with AUC / precision@20 columns per tracker."""
    names = list(performance)
    lines = ["## Overall", "", "| tracker | success AUC | precision@20 | normalised precision | fps |",
             "|---|---|---|---|---|"]
    for n in names:
        o = performance[n]["overall"]
        lines.append(f"| {n} | {o['success_score']:.3f} | {o['precision_score']:.3f} | "
                     f"{o['norm_precision_score']:.3f} | {o['speed_fps']:.1f} |")
    lines += ["", "## Per sequence", ""]
    seqs = sorted({s for p in performance.values() for s in p["seq_wise"]})
    head = "| sequence | " + " | ".join(f"{n} AUC | {n} P@20" for n in names) + " |"
    sep = "|---|" + "---|---|" * len(names)
    lines += [head, sep]

    def cells(d: dict | None) -> str:
        return "-- | --" if d is None else f"{d['success_score']:.3f} | {d['precision_score']:.3f}"

    for s in seqs:
        lines.append(f"| {s} | " + " | ".join(cells(performance[n]["seq_wise"].get(s)) for n in names) + " |")
    lines.append("| **overall** | " + " | ".join(cells(performance[n]["overall"]) for n in names) + " |")
    text = "\n".join(lines) + "\n"
    if problems:
        text += "\nProblems:\n" + "".join(f"- {p}\n" for p in problems)
    return text


def failures_table(confidence: dict[str, dict[str, FailureStats]]) -> str:
    """The failure-detection section of report.md: per tracker the score's ROC-AUC (IoU >= 0.3
    vs < 0.1), failures flagged lost within 10 frames, well-tracked frames flagged, and the
    ROC-AUC of the raw peak and of each cue for comparison."""
    if not confidence:
        return ""
    lines = ["", "## Confidence as a failure detector", "",
             "Pooled over all frames but the first. ROC-AUC: the score telling frames with IoU "
             ">= 0.3 from frames with IoU < 0.1. Failures: runs of IoU < 0.1 lasting 10 frames "
             "or more; flagged: `lost` set within 10 frames of the run's start. Well-tracked: "
             "IoU >= 0.5.", "",
             "| tracker | score ROC-AUC | failures flagged | well-tracked frames flagged | "
             "median score (IoU >= 0.3 / < 0.1) | ROC-AUC of peak and cues |",
             "|---|---|---|---|---|---|"]
    for name, stats in confidence.items():
        s = stats.get("score")
        if s is None:
            continue
        others = ", ".join(f"{'sigmoid(peak)' if k == 'peak' else k.removeprefix('cue_')} "
                           f"{_number(v.roc_auc, '.3f')}" for k, v in stats.items() if k != "score")
        lines.append(f"| {name} | {_number(s.roc_auc, '.3f')} | "
                     f"{_share(s.flagged, s.failures, '.0f')} | "
                     f"{_share(s.good_flagged, s.good_frames, '.1f')} | "
                     f"{_number(s.median_score_held, '.2f')} / "
                     f"{_number(s.median_score_failed, '.2f')} | {others} |")
    return "\n".join(lines) + "\n"


def _number(value: float, fmt: str) -> str:
    """``value`` formatted, or "-" where there was nothing to compute it from (NaN)."""
    return format(value, fmt) if np.isfinite(value) else "-"


def _share(part: int, whole: int, fmt: str) -> str:
    """"3 / 4 (75%)", or "none" where there is nothing to count."""
    return f"{part} / {whole} ({format(100 * part / whole, fmt)}%)" if whole else "none"


def plot_confidence(series: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                    folder: Path) -> list[Path]:
    """One plot per sequence: IoU with the ground truth and the score over the frames, lost
    frames shaded; ``<folder>/<seq>.png``. Needs matplotlib (none without it)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for seq, (iou, score, lost) in series.items():
        fig, ax = plt.subplots(figsize=(8, 2.6))
        frames = np.arange(len(iou))
        ax.fill_between(frames, 0, 1, where=lost, color="0.85", step="mid", label="lost")
        ax.plot(frames, iou, color="tab:blue", lw=1, label="IoU")
        ax.plot(frames, score, color="tab:orange", lw=1, label="score")
        ax.set(xlabel="frame", ylim=(0, 1.02), xlim=(0, max(len(iou) - 1, 1)), title=seq)
        ax.legend(loc="lower left", fontsize=8, ncol=3)
        fig.tight_layout()
        fig.savefig(folder / f"{seq}.png", dpi=100)
        plt.close(fig)
        out.append(folder / f"{seq}.png")
    return out


def plot_curves(performance: dict, report_dir: Path) -> list[Path]:
    """success_plots.png and precision_plots.png with every tracker; needs matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    out = []
    for key, thr, score, xlabel, fname in (
            ("success_curve", SUCCESS_THRESHOLDS, "success_score", "Overlap threshold", "success_plots.png"),
            ("precision_curve", PRECISION_THRESHOLDS, "precision_score", "Location error threshold (px)",
             "precision_plots.png")):
        fig, ax = plt.subplots(figsize=(6, 4.5))
        ranked = sorted(performance.items(), key=lambda kv: -kv[1]["overall"][score])
        for name, perf in ranked:
            ax.plot(thr, perf["overall"][key], label=f"{name} [{perf['overall'][score]:.3f}]")
        ax.set(xlabel=xlabel, ylabel="Success rate" if "success" in key else "Precision",
               xlim=(thr[0], thr[-1]), ylim=(0, 1.0),
               title=("Success" if "success" in key else "Precision") + " plots of OPE")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right" if "success" in key else "lower right")
        fig.tight_layout()
        fig.savefig(report_dir / fname, dpi=120)
        plt.close(fig)
        out.append(report_dir / fname)
    return out

