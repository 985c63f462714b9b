"""Evidently's own HTML and JSON report, on a sample, for people to read."""

from __future__ import annotations

import contextlib
import html
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from airflow_provider_agentic_mlops.core.config import DriftSettings
from airflow_provider_agentic_mlops.core.data_io import named_columns
from airflow_provider_agentic_mlops.core.drift.columns import comparable_values, with_text_column_names
from airflow_provider_agentic_mlops.core.drift.methods import CAT, DRIFT_METHODS, NUM, TEXT
from airflow_provider_agentic_mlops.core.drift.summary import DriftPlan, DriftSummary
from airflow_provider_agentic_mlops.core.errors import describe

#: Default rows sampled from each frame for the report (``DriftSettings.report_sample_rows``).
REPORT_SAMPLE_ROWS = DriftSettings.model_fields["report_sample_rows"].default

#: Default columns the report shows at most (``DriftSettings.report_max_columns``).
REPORT_MAX_COLUMNS = DriftSettings.model_fields["report_max_columns"].default

#: How long one wait for the report thread lasts before it looks again (a wait without a timeout is not
#: interruptible on every platform); the wait itself goes on until the thread has ended.
_WAIT_STEP_SECONDS = 0.5


@dataclass(frozen=True)
class ReportOutcome:
    """What became of the report: ``written`` (``paths`` by kind) or ``skipped`` with the reason.

    :param status: ``"written"`` or ``"skipped"``.
    :param reason: why it was skipped (the error, one line), or None.
    :param paths: local files written: ``summary`` always, ``html`` and ``json`` when written.
    """

    status: str
    reason: str | None
    paths: dict[str, str]
    #: which columns the report shows, when not all (:func:`report_columns`)
    shown: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        out = {"status": self.status, "reason": self.reason}
        if self.shown:
            out["shown"] = self.shown
        return out


def report_columns(summary: DriftSummary, max_columns: int) -> list[str]:
    """The columns the report shows: all when at most ``max_columns``; else those with a fault first (in
    the evidence's order), then the drifted ones, then the others, each most severe first (how far past
    its threshold the score is, comparable across methods), ``max_columns`` in all."""
    if len(summary.columns) <= max_columns:
        return list(summary.columns)
    faulted = [f.get("column") for f in (summary.evidence or {}).get("faults", ()) if isinstance(f, dict)]
    by_severity = sorted(summary.columns.values(), key=lambda c: (not c.drifted, -c.severity, c.column))
    ordered = [c for c in faulted if c in summary.columns] + [c.column for c in by_severity]
    return list(dict.fromkeys(ordered))[:max_columns]


def _shown_note(shown: list[str], n_columns: int, *, short: bool = False) -> str | None:
    """Which columns the report shows, when not all: for the report's note, or ``short`` for the summary."""
    if len(shown) >= n_columns:
        return None
    if short:
        return (
            f"report shows {len(shown):,} of {n_columns:,} columns: those with a fault, then the drifted, "
            "then the highest drift scores (report_columns in drift_summary.json lists them)"
        )
    return (
        f"The report shows {len(shown):,} of {n_columns:,} columns (report_max_columns): those with a fault, "
        "then the drifted ones, then the highest drift scores; drift_summary.json has every column "
        "(report_columns lists those shown)."
    )


def write_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    out_dir: str | Path,
    summary: DriftSummary,
    *,
    sample_rows: int = REPORT_SAMPLE_ROWS,
    model_name: str | None = None,
    max_columns: int = REPORT_MAX_COLUMNS,
) -> ReportOutcome:
    """The full-data summary (``drift_summary.json``) and, when Evidently can render it, its report.

    The report is for people: when Evidently cannot render it (not importable, e.g. under pandas
    3; a method it refuses on the sample; any other error) the outcome is ``skipped`` with the
    reason, and the drift check goes on. The summary's ``report`` field says which.

    :param reference: reference data.
    :param current: current data.
    :param out_dir: local directory to write into (created if needed).
    :param summary: the full-data summary; its ``report`` field is set here.
    :param sample_rows: rows sampled from each frame for Evidently's report.
    :param model_name: model name, shown in the report's note.
    :param max_columns: columns the report shows at most (:func:`report_columns`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = summary.plan
    shown = report_columns(summary, max_columns)
    shown_note = _shown_note(shown, len(plan.columns))
    if shown_note:
        plan = DriftPlan({c: plan.columns[c] for c in shown}, plan.share_threshold)
    if len(current) == 0:  # an empty current_window: the summary says n_current 0, nothing to draw
        outcome = ReportOutcome("skipped", "no current rows (the current_window holds none): nothing to render", {})
    else:
        try:  # write_evidently_report names the columns by text itself
            paths = write_evidently_report(
                reference,
                current,
                out,
                sample_rows=sample_rows,
                plan=plan,
                model_name=model_name,
                shown_note=shown_note or "",
            )
            said = _shown_note(shown, len(summary.columns), short=True)
            outcome = ReportOutcome("written", None, paths, said)
        except Exception as err:  # noqa: BLE001 - the report must never fail the check; the reason is kept
            outcome = _not_rendered(out, err)
    return _with_summary(out, outcome, reference, current, summary, sample_rows, model_name, shown, shown_note)


class ReportAlongside:
    """Evidently's report rendered on a worker thread while the summary is computed.

    Use it as a context manager (``with ReportAlongside(...) as report:``): leaving the block waits for
    the thread, also when the summary fails or the wait is interrupted (see :meth:`join`), and the
    error propagates unchanged once the thread has ended, so it never outlives the block or ``out_dir``. Pass
    :meth:`start` as :func:`compute_drift`'s ``on_plan``: the report starts as soon as the columns,
    methods and thresholds are known, and renders (Python-bound work on a sample) while the summary
    sorts the numeric columns (numpy, which releases the GIL) and the evidence is gathered.
    :meth:`finish` waits for it and gives the same outcome and files as :func:`write_report`: when the
    report never started (empty window) or was configured otherwise than the summary, it renders then.

    The thread only reads the frames (through shallow copies of its own, so that no pandas object is
    shared between threads), writes only its two files, and logs nothing. Evidently is imported before
    the thread starts: two threads importing the same modules at once can deadlock in Python's import.
    ``out_dir`` is created by :meth:`start`, before the thread: the thread never creates a folder, so a
    render that outlived its folder could only fail, never bring the folder back with data rows in it.

    :param reference: reference data.
    :param current: current data.
    :param out_dir: local directory to write into (created if needed).
    :param sample_rows: rows sampled from each frame for Evidently's report.
    :param model_name: model name, shown in the report's note.
    :param max_columns: columns the report shows at most. A plan with more is rendered by :meth:`finish`,
        once the scores and faults that choose the columns shown are known (:func:`report_columns`).
    """

    def __init__(
        self,
        reference: pd.DataFrame,
        current: pd.DataFrame,
        out_dir: str | Path,
        *,
        sample_rows: int = REPORT_SAMPLE_ROWS,
        model_name: str | None = None,
        max_columns: int = REPORT_MAX_COLUMNS,
    ) -> None:
        self.reference, self.current = reference, current
        self.out = Path(out_dir)
        self.sample_rows, self.model_name, self.max_columns = sample_rows, model_name, max_columns
        self._plan: DriftPlan | None = None
        self._thread: threading.Thread | None = None
        self._paths: dict[str, str] | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()  # set by the thread when it has ended, whatever happened

    def start(self, plan: DriftPlan) -> None:
        """Start rendering the report of ``plan`` (once; a second call is ignored)."""
        if self._thread is not None or len(self.current) == 0 or len(plan.columns) > self.max_columns:
            return  # too wide: finish() renders the columns it chooses once the scores are known
        try:
            import evidently.presets  # noqa: F401 - imported here, not on two threads at once
        except Exception:  # noqa: BLE001 - not importable: finish() renders in line and says why
            return
        self.out.mkdir(parents=True, exist_ok=True)
        reference, current = self.reference.copy(deep=False), self.current.copy(deep=False)
        thread = threading.Thread(
            target=self._render, args=(reference, current, plan), name="drift-report", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # no thread to be had: finish() renders in line
            return
        self._plan, self._thread = plan, thread

    def _render(self, reference: pd.DataFrame, current: pd.DataFrame, plan: DriftPlan) -> None:
        try:
            self._paths = write_evidently_report(
                reference,
                current,
                self.out,
                sample_rows=self.sample_rows,
                plan=plan,
                model_name=self.model_name,
                create_dir=False,
            )
        except BaseException as err:  # noqa: BLE001 - handed to finish(), on the caller's thread
            self._error = err
        finally:
            self._done.set()

    def __enter__(self) -> ReportAlongside:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.join()

    def join(self) -> None:
        """Wait until the report thread has ended, if one was started, also when the wait is interrupted.

        An exception raised in the waiting thread meanwhile (Airflow's ``execution_timeout``, which a
        signal handler raises in the task's main thread; Ctrl-C) is held until the report thread has
        ended, then re-raised unchanged: the caller removes ``out_dir`` only once nothing writes into it.
        The wait is on an event the thread sets as its last step, not on ``Thread.join()``: on Python
        3.10 to 3.12 an interrupted ``Thread.join()`` can mark a still-running thread as ended, so that
        the next ``join()`` returns at once.
        """
        if self._thread is None:
            return
        interrupted: BaseException | None = None
        while not self._done.is_set():
            try:
                self._done.wait(_WAIT_STEP_SECONDS)
            except BaseException as err:  # noqa: BLE001 - re-raised below, once the thread has ended
                if interrupted is None:
                    interrupted = err
        if interrupted is not None:
            raise interrupted

    def finish(self, summary: DriftSummary) -> ReportOutcome:
        """Wait for the report, set ``summary.report`` and write ``drift_summary.json``, as
        :func:`write_report` does (which this calls when the report was not rendered alongside)."""
        self.join()
        if self._plan is None or not _same_plan(self._plan, summary.plan):
            if self._plan is not None:  # never expected: the summary is scored as it was planned
                _not_rendered(self.out, RuntimeError("report configured otherwise than the summary"))
            return write_report(
                self.reference,
                self.current,
                self.out,
                summary,
                sample_rows=self.sample_rows,
                model_name=self.model_name,
                max_columns=self.max_columns,
            )
        if self._error is not None and not isinstance(self._error, Exception):
            raise self._error  # SystemExit and the like: not the report's failure to hide
        if self._error is not None:
            outcome = _not_rendered(self.out, self._error)
        else:
            outcome = ReportOutcome("written", None, dict(self._paths or {}))
        return _with_summary(
            self.out, outcome, self.reference, self.current, summary, self.sample_rows, self.model_name
        )


def _same_plan(a: DriftPlan, b: DriftPlan) -> bool:
    """Same columns in the same order, each checked the same way, and the same share threshold."""
    return list(a.columns.items()) == list(b.columns.items()) and a.share_threshold == b.share_threshold


def _not_rendered(out: Path, err: BaseException) -> ReportOutcome:
    """``skipped`` with the error, and no half-written file left behind."""
    for leftover in ("drift_report.html", "drift_report.json", "drift_summary.json"):
        (out / leftover).unlink(missing_ok=True)
    return ReportOutcome("skipped", f"Evidently could not render the report: {describe(err)}", {})


def _with_summary(
    out: Path,
    outcome: ReportOutcome,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    summary: DriftSummary,
    sample_rows: int,
    model_name: str | None,
    shown: list[str] | None = None,
    shown_note: str | None = None,
) -> ReportOutcome:
    """Set the summary's ``report`` field and write the full summary (``drift_summary.json``) beside."""
    summary.report = outcome.to_dict()
    summary_path = out / "drift_summary.json"
    full = summary.to_dict(max_bytes=10**9)
    if outcome.status == "written":
        full["report_note"] = _note(model_name, reference, current, sample_rows, shown_note or "")
        if shown_note:
            full["report_columns"] = shown
    summary_path.write_text(json.dumps(full, indent=2, default=str))
    return ReportOutcome(outcome.status, outcome.reason, {**outcome.paths, "summary": str(summary_path)}, outcome.shown)


def _note(
    model_name: str | None, reference: pd.DataFrame, current: pd.DataFrame, sample_rows: int, shown_note: str = ""
) -> str:
    n_ref, n_cur = min(len(reference), sample_rows), min(len(current), sample_rows)
    return (
        f"Evidently data drift report{f' for model {model_name}' if model_name else ''}, rendered on a "
        f"random sample of {n_ref:,} of {len(reference):,} reference rows and "
        f"{n_cur:,} of {len(current):,} current rows. The drift decision uses scores "
        "computed on all rows (drift_summary.json / the task's XCom), so figures here can differ."
        + (f" {shown_note}" if shown_note else "")
    )


def write_evidently_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    out_dir: str | Path,
    *,
    sample_rows: int = REPORT_SAMPLE_ROWS,
    summary: DriftSummary | None = None,
    plan: DriftPlan | None = None,
    column_methods: dict[str, str] | None = None,
    type_methods: dict[str, str] | None = None,
    column_thresholds: dict[str, float] | None = None,
    drift_share: float = 0.5,
    model_name: str | None = None,
    random_state: int = 0,
    create_dir: bool = True,
    shown_note: str = "",
) -> dict[str, str]:
    """Write Evidently's data drift report (HTML and JSON) on at most ``sample_rows`` rows of each.

    The HTML starts with a note that it was rendered on a sample and where the full-data result is.
    With ``summary`` the report checks the same columns, with the same types and methods.

    :param reference: reference data.
    :param current: current data.
    :param out_dir: local directory to write into (created if needed, unless ``create_dir`` is False).
    :param sample_rows: rows sampled at random from each frame when it has more.
    :param summary: the full-data :class:`DriftSummary`; its columns, types, methods and thresholds
        are used, and it is saved as ``drift_summary.json``.
    :param plan: the columns, types, methods and thresholds alone (:attr:`DriftSummary.plan`, or what
        :func:`compute_drift` hands ``on_plan`` before scoring), when no ``summary`` is given.
    :param column_methods: method per column, when no ``summary`` is given.
    :param type_methods: method per type (``"num"``, ``"cat"``), when no ``summary`` is given.
    :param column_thresholds: threshold per column, when no ``summary`` is given.
    :param drift_share: dataset drift-share threshold.
    :param model_name: model name, shown in the note.
    :param random_state: seed of the sample.
    :param create_dir: create ``out_dir`` when it is missing. False on :class:`ReportAlongside`'s thread,
        which must not bring back a folder removed under it: a missing ``out_dir`` is then an error.
    :param shown_note: which columns the report shows when not all, added to its note.
    :return: paths by kind: ``html``, ``json`` and, with a summary, ``summary``.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    out = Path(out_dir)
    if create_dir:
        out.mkdir(parents=True, exist_ok=True)
    elif not out.is_dir():
        raise FileNotFoundError(f"the report's folder {out} is gone (not created here: create_dir=False)")
    reference, current = (
        with_text_column_names(reference, "reference data"),
        with_text_column_names(current, "current data"),
    )
    ref_sample = _sample(reference, sample_rows, random_state)
    cur_sample = _sample(current, sample_rows, random_state)
    if summary is not None:
        plan = summary.plan
    if plan is not None:
        cols = list(plan.columns)
        # A numeric column scored with a categorical test (few values, small reference: Evidently's own
        # default) is declared categorical, or Evidently's report refuses the method on it.
        as_cat = {
            c
            for c, r in plan.columns.items()
            if r.type == CAT or (r.type == NUM and NUM not in DRIFT_METHODS[r.method].types)
        }
        definition = DataDefinition(
            numerical_columns=[c for c, r in plan.columns.items() if r.type == NUM and c not in as_cat],
            categorical_columns=[c for c in plan.columns if c in as_cat],
            text_columns=[c for c, r in plan.columns.items() if r.type == TEXT],
        )
        column_methods = {c: r.method for c, r in plan.columns.items()}
        column_thresholds = {c: r.threshold for c, r in plan.columns.items()}
        drift_share = plan.share_threshold
        ref_sample, cur_sample = _numpy_dtypes(ref_sample[cols]), _numpy_dtypes(cur_sample[cols])
        numeric = [c for c, r in plan.columns.items() if r.type == NUM and c not in as_cat]
        ref_sample, cur_sample, moved = _within_binnable_range(ref_sample, cur_sample, numeric)
        if moved:
            shown_note = (
                f"{shown_note} Columns with values beyond +-{REPORT_MAX_ABS:.0e}, which Evidently cannot bin, "
                f"are shown less the reference median and clipped to +-{REPORT_MAX_ABS:.0e} (the scores above "
                f"used the values as they are): {named_columns(moved)}."
            ).strip()
        preset = DataDriftPreset(
            columns=cols,
            drift_share=drift_share,
            per_column_method=column_methods,
            per_column_threshold=column_thresholds,
        )
    else:
        definition = DataDefinition()
        preset = DataDriftPreset(
            drift_share=drift_share,
            num_method=(type_methods or {}).get(NUM),
            cat_method=(type_methods or {}).get(CAT),
            per_column_method=column_methods,
            per_column_threshold=column_thresholds,
        )
    with _unshown_value_drift_widgets_skipped():
        snapshot = Report([preset]).run(
            Dataset.from_pandas(cur_sample, data_definition=definition),
            Dataset.from_pandas(ref_sample, data_definition=definition),
        )
    html_path, json_path = out / "drift_report.html", out / "drift_report.json"
    snapshot.save_html(str(html_path))  # needs a path: given a file object it writes nothing
    snapshot.save_json(str(json_path))
    note = _note(model_name, reference, current, sample_rows, shown_note)
    _add_note_to_html(html_path, note)
    _escape_script_data(html_path)
    paths = {"html": str(html_path), "json": str(json_path)}
    if summary is not None:
        summary_path = out / "drift_summary.json"
        full = summary.to_dict(max_bytes=10**9)
        full["report_note"] = note
        summary_path.write_text(json.dumps(full, indent=2, default=str))
        paths["summary"] = str(summary_path)
    return paths


@contextlib.contextmanager
def _unshown_value_drift_widgets_skipped() -> Iterator[None]:
    """Run Evidently without drawing the per-column ``ValueDrift`` widgets that the preset never shows.

    ``DataDriftPreset`` computes a ``ValueDrift`` metric per column (its scores are in the JSON) and
    each draws its own plotly charts, but the preset renders its page from its legacy drift table
    alone, so those charts are thrown away: about 40% of the report's time. The HTML and JSON are the
    same with or without them (``test_skipping_unshown_widgets_leaves_the_report_unchanged`` is the
    gate for an Evidently upgrade). Process-wide while the report runs; a task process runs one report.
    """
    try:
        from evidently.metrics.column_statistics import ValueDriftCalculation
    except ImportError:  # another Evidently layout: draw everything, as Evidently does
        yield
        return
    drawn = ValueDriftCalculation.__dict__.get("_render")
    if drawn is None:
        yield
        return
    ValueDriftCalculation._render = lambda self, *args, **kwargs: []  # type: ignore[method-assign]
    try:
        yield
    finally:
        ValueDriftCalculation._render = drawn  # type: ignore[method-assign]


def _numpy_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Nullable numeric columns (Int64, Float64) as float64 with NaN: Evidently's report computes a
    correlation matrix with numpy, which fails on the object array that pandas' NA makes. Object
    columns of numbers (Decimals, Python ints and floats) as numbers, categoricals mixing numbers
    and text as text, durations as seconds, and intervals, bytes and lists as text, as the drift
    computation reads them (:func:`comparable_values`)."""
    converted: dict[str, Any] = {}
    for c in frame.columns:
        series = frame[c]
        dtype = series.dtype
        if isinstance(dtype, pd.CategoricalDtype) and isinstance(dtype.categories.dtype, pd.IntervalDtype):
            converted[c] = series.astype(object).map(str, na_action="ignore")  # Evidently's JSON cannot hold one
            continue
        compared = comparable_values(series)
        if compared is not series:
            converted[c] = compared
        elif (
            isinstance(dtype, pd.api.extensions.ExtensionDtype)
            and pd.api.types.is_numeric_dtype(dtype)
            and not pd.api.types.is_bool_dtype(dtype)
        ):
            converted[c] = series.to_numpy(dtype="float64", na_value=float("nan"))
    return frame.assign(**converted) if converted else frame


#: Largest magnitude of a number in the report's sample: beyond it Evidently's histograms fail (1e308 overflows
#: their range; 2**70 + k has no finite-sized bins in float64).
REPORT_MAX_ABS = 1e12


def _within_binnable_range(
    reference: pd.DataFrame, current: pd.DataFrame, columns: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The report's samples with each numeric column holding a finite value beyond ``REPORT_MAX_ABS`` shown
    less the reference's median, then clipped to +-``REPORT_MAX_ABS`` (infinities and NaN kept), in both
    frames alike; and the columns so changed, which the report's note names. Only the report's sample:
    the drift scores are computed on the values as they are."""
    moved: list[str] = []
    frames = {"reference": reference, "current": current}
    changed: dict[str, dict[str, np.ndarray]] = {"reference": {}, "current": {}}
    for column in columns:
        values = {}
        for role, frame in frames.items():
            try:
                values[role] = np.asarray(frame[column], dtype="float64")
            except (TypeError, ValueError, OverflowError):  # not numbers after all: left to Evidently
                break
        if len(values) < 2:
            continue
        finite = {role: v[np.isfinite(v)] for role, v in values.items()}
        if not any(f.size and np.abs(f).max() > REPORT_MAX_ABS for f in finite.values()):
            continue
        offset = float(np.median(finite["reference"])) if finite["reference"].size else 0.0
        with np.errstate(over="ignore", invalid="ignore"):
            for role, v in values.items():
                shifted = np.clip(v - offset, -REPORT_MAX_ABS, REPORT_MAX_ABS)
                changed[role][column] = np.where(np.isfinite(v), shifted, v)
        moved.append(column)
    return (
        reference.assign(**changed["reference"]) if moved else reference,
        current.assign(**changed["current"]) if moved else current,
        moved,
    )


def _sample(frame: pd.DataFrame, rows: int, random_state: int) -> pd.DataFrame:
    if rows <= 0:
        raise ValueError(f"sample_rows must be positive, got {rows}")
    return frame.sample(n=rows, random_state=random_state) if len(frame) > rows else frame


def _add_note_to_html(path: Path, note: str) -> None:
    banner = (
        '<div style="font-family:sans-serif;padding:10px 16px;margin:8px;background:#fff4d6;'
        f'border:1px solid #e0b84c;border-radius:4px">{html.escape(note)}</div>'
    )
    text = path.read_text(encoding="utf-8")
    match = re.search(r"<body[^>]*>", text, flags=re.IGNORECASE)
    text = text[: match.end()] + banner + text[match.end() :] if match else banner + text
    path.write_text(text, encoding="utf-8")


#: Evidently's inline data (``file_html_template``): ``<script>``, a newline, ``var <id> = <JSON>;``, then
#: ``var additional_graphs_<id> = <JSON>;`` ended by a newline before ``</script>``, which JSON (whose
#: strings escape newlines) cannot hold.
_DATA_SCRIPT = re.compile(r"<script>\n\s*var (\w+) = ")
_DATA_SCRIPT_END = ";\n</script>"


def _escape_script_data(path: Path) -> None:
    """Escape ``</`` as ``<\\/`` (and ``<!--`` as ``\\u003c!--``) in the report's inline data scripts.

    Evidently writes column names and values as JSON into a ``<script>`` block unescaped for HTML: a
    column named ``x</script>`` ends the block early (the report shows nothing) and ``<!--`` may swallow
    the next one. In JSON and JavaScript strings ``\\/`` is ``/`` and ``\\u003c`` is ``<``: the data
    reads back the same. Only inside those blocks; nothing else of the page is touched."""
    text = path.read_text(encoding="utf-8")
    parts, last = [], 0
    for match in _DATA_SCRIPT.finditer(text):
        if match.start() < last:  # inside a block already escaped
            continue
        graphs = text.find(f";\n    var additional_graphs_{match.group(1)} = ", match.end())
        end = text.find(_DATA_SCRIPT_END, graphs)
        if graphs < 0 or end < 0:
            continue
        data = text[match.end() : end].replace("</", "<\\/").replace("<!--", "\\u003c!--")
        parts += [text[last : match.end()], data]
        last = end
    if parts:
        path.write_text("".join([*parts, text[last:]]), encoding="utf-8")
