"""The drift summary: small, JSON-able, what the decision step reads."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_agentic_mlops.core.drift.methods import DRIFT_METHODS

#: Default byte budget of :meth:`DriftSummary.to_dict`.
SUMMARY_MAX_BYTES = 10_000
#: Entries kept of a list with one per column (schema errors, faults, ...) when the summary is cut.
LIST_ITEMS_KEPT = 10
#: A column name longer than this, as JSON writes it (non-ASCII escaped), is cut when the summary is cut.
NAME_MAX_JSON_CHARS = 64
#: A message (a schema error, a note) longer than this, as JSON writes it, is cut when the summary is cut.
MESSAGE_MAX_JSON_CHARS = 400


@dataclass
class ColumnDrift:
    """Drift of one column.

    :param column: column name.
    :param type: ``"num"``, ``"cat"`` or ``"text"`` (Evidently's column type).
    :param method: Evidently method name, e.g. ``"wasserstein"``.
    :param score: the method's score (a distance, or a p-value for tests).
    :param threshold: threshold the score was compared with.
    :param drifted: whether the column drifted.
    """

    column: str
    type: str
    method: str
    score: float
    threshold: float
    drifted: bool

    @property
    def severity(self) -> float:
        """How far past its threshold the column is (> 1 means drifted), comparable across methods."""
        method = DRIFT_METHODS.get(self.method)
        if self.score is None or (isinstance(self.score, float) and math.isnan(self.score)):
            return 0.0
        if method is not None and method.is_p_value:
            return math.inf if self.score <= 0 else self.threshold / self.score
        return math.inf if self.threshold <= 0 else self.score / self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": json_float(self.score),
            "method": self.method,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "type": self.type,
        }


@dataclass(frozen=True)
class ColumnCheck:
    """How one column is checked, known before its score: what Evidently's report needs.

    :param type: ``"num"``, ``"cat"`` or ``"text"``.
    :param method: Evidently method name.
    :param threshold: threshold the score is compared with.
    """

    type: str
    method: str
    threshold: float


@dataclass(frozen=True)
class DriftPlan:
    """The columns a drift check scores, in order, each with its type, method and threshold, and the
    dataset drift-share threshold: all that Evidently's report is configured with, known before any
    score is computed (:func:`compute_drift` hands it to ``on_plan``).

    :param columns: per column, how it is checked.
    :param share_threshold: the dataset drift-share threshold.
    """

    columns: dict[str, ColumnCheck]
    share_threshold: float


@dataclass
class DriftSummary:
    """Result of :func:`compute_drift`: small, JSON-able, what the decision step reads.

    :param dataset_drift: whether the share of drifted columns reached ``share_threshold``.
    :param drift_share: share of checked columns that drifted.
    :param share_threshold: the dataset drift-share threshold.
    :param n_columns: number of columns checked.
    :param n_drifted: number of drifted columns.
    :param columns: per-column result, by column name.
    :param quality: model quality per metric as ``{"reference": x, "current": y}``, or None.
    :param n_reference: rows in the reference data.
    :param n_current: rows in the current data.
    :param data_quality: ``null_share`` per column (current data, a number column's NaN and +-inf
        counted; not the label column's: its nulls are labels not in yet, ``unlabelled_share``),
        ``reference_null_share`` (the same on the reference, which the decision compares with),
        ``missing_columns``, ``schema_errors``, and ``extra_columns``; the decision step stops on
        broken data. ``started_columns``: columns null throughout the reference with values now (a feature
        that started arriving, or a column the reference lost when the champion reads it: a fault the
        evidence records), with the share of current rows holding one. ``notes``:
        what was read another way or left out, no fault (columns outside ``feature_columns`` new in the
        current data, ignored).
    :param top_n: how many drifted columns :attr:`top_drifted` lists.
    :param model_name: model the check was for, if given.
    :param report_uri: where the full report was saved, set by the operator.
    :param columns_omitted: columns left out of ``columns`` by :meth:`to_dict` to stay small.
    :param report: what became of Evidently's report: ``{"status": "written" | "skipped", "reason"}``.
    :param evidence: the decision's evidence table (``core.evidence``): faults, performance, severity.
    """

    dataset_drift: bool
    drift_share: float
    share_threshold: float
    n_columns: int
    n_drifted: int
    columns: dict[str, ColumnDrift]
    quality: dict[str, dict[str, float | None]] | None
    n_reference: int
    n_current: int
    data_quality: dict[str, Any]
    top_n: int = 5
    model_name: str | None = None
    report_uri: str | None = None
    columns_omitted: int = 0
    report: dict[str, Any] | None = None
    evidence: dict[str, Any] | None = None

    @property
    def plan(self) -> DriftPlan:
        """The columns checked and how: what Evidently's report is configured with."""
        return DriftPlan(
            {name: ColumnCheck(c.type, c.method, c.threshold) for name, c in self.columns.items()},
            self.share_threshold,
        )

    @property
    def top_drifted(self) -> list[dict[str, Any]]:
        """The most severe drifted columns, most severe first."""
        drifted = [c for c in self.columns.values() if c.drifted]
        drifted.sort(key=lambda c: (-c.severity, c.column))
        return [
            {"column": c.column, "score": json_float(c.score), "method": c.method, "threshold": c.threshold}
            for c in drifted[: self.top_n]
        ]

    def to_dict(self, max_bytes: int = SUMMARY_MAX_BYTES) -> dict[str, Any]:
        """A JSON-able dict of at most ``max_bytes`` (as ``json.dumps`` writes it).

        With many columns the per-column detail is cut: columns are kept most severe first, the
        rest counted in ``columns_omitted``; ``null_share`` keeps the columns with nulls, most first
        (``reference_null_share`` the same columns);
        lists with an entry per column keep their first ``LIST_ITEMS_KEPT`` and count the rest in
        ``<name>_omitted`` beside them (``schema_errors``, ``missing_columns``, ``extra_columns``,
        ``type_changes``, ``skipped_columns`` and the evidence's ``faults``): every entry kept is a
        real one, so a reader counts ``len(list) + <name>_omitted``. The full lists are in the
        report's ``drift_summary.json`` (``max_bytes`` unbounded).
        Size is measured as Airflow's XCom writes it (``json.dumps``, non-ASCII escaped). Still too big,
        column names over ``NAME_MAX_JSON_CHARS`` are cut alike everywhere (keys, entries, messages: their
        start, ``…`` and 8 hex digits of their SHA-1, so two names stay apart; counted in
        ``column_names_cut``), messages over ``MESSAGE_MAX_JSON_CHARS`` are cut, and then every list
        (``top_drifted`` and ``evidence.severity.top`` too) keeps fewer entries, down to one, the rest
        counted beside it: a fault is never cut away uncounted.
        """
        ordered = sorted(self.columns.values(), key=lambda c: (-c.severity, c.column))
        null_share = dict(self.data_quality.get("null_share", {}))
        data_quality = {**self.data_quality, "null_share": null_share}
        evidence = dict(self.evidence) if self.evidence is not None else None
        result: dict[str, Any] = {
            "model_name": self.model_name,
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "share_threshold": self.share_threshold,
            "n_columns": self.n_columns,
            "n_drifted": self.n_drifted,
            "top_drifted": self.top_drifted,
            "top_n": self.top_n,
            "columns": {c.column: c.to_dict() for c in ordered},
            "columns_omitted": self.columns_omitted,
            "quality": self.quality,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "data_quality": data_quality,
            "report_uri": self.report_uri,
            "report": self.report,
            "evidence": evidence,
        }
        if _json_size(result) <= max_bytes:
            return result
        # 1. Only columns that have nulls; the first few entries of the per-column lists.
        with_nulls = sorted(((k, v) for k, v in null_share.items() if v), key=lambda kv: (-kv[1], kv[0]))
        reference_null_share = dict(self.data_quality.get("reference_null_share") or {})

        def keep_null_shares(kept: list[tuple[str, float]]) -> None:
            data_quality["null_share"] = dict(kept)
            if "reference_null_share" in data_quality:
                data_quality["reference_null_share"] = {
                    k: reference_null_share[k] for k, _ in kept if k in reference_null_share
                }

        keep_null_shares(with_nulls)
        kept = LIST_ITEMS_KEPT
        for section, key in (*((data_quality, key) for key in CUT_LISTS), (evidence, "faults")):
            _keep_first(section, key, kept)
        short: dict[str, str] = {}
        if _json_size(result) > max_bytes:
            # 2. Long column names cut, alike in keys, entries and messages (the decision clips them anyway).
            short = _short_names(self._column_names())
            if short:
                data_quality, evidence = _renamed(data_quality, short), _renamed(evidence, short)
                with_nulls = [(short.get(k, k), v) for k, v in with_nulls]
                reference_null_share = {short.get(k, k): v for k, v in reference_null_share.items()}
                result.update(
                    top_drifted=_renamed(result["top_drifted"], short),
                    columns=_renamed(result["columns"], short),
                    data_quality=data_quality,
                    evidence=evidence,
                    column_names_cut=len(short),
                )
        # 3. Fewer columns, most severe first.
        keep = len(ordered)
        while keep > 0 and _json_size(result) > max_bytes:
            keep = keep // 2 if keep > 8 else keep - 1
            result["columns"] = {short.get(c.column, c.column): c.to_dict() for c in ordered[:keep]}
            result["columns_omitted"] = self.columns_omitted + len(ordered) - keep
        # 4. Fewer null shares.
        while with_nulls and _json_size(result) > max_bytes:
            with_nulls = with_nulls[: len(with_nulls) // 2]
            keep_null_shares(with_nulls)
        # 5. Shorter messages, then fewer entries of every list (down to one, the rest counted).
        if _json_size(result) > max_bytes:
            for key in ("top_drifted", "data_quality", "evidence"):
                result[key] = _messages_cut(result[key])
            data_quality, evidence = result["data_quality"], result["evidence"]
        severity = (evidence or {}).get("severity")
        lists = [
            (result, "top_drifted"),
            *((data_quality, key) for key in (*CUT_LISTS, "notes")),
            *((evidence, key) for key in ("faults", "notes")),
            *([(severity, "top")] if isinstance(severity, dict) else []),
        ]
        while kept > 1 and _json_size(result) > max_bytes:
            kept //= 2
            for section, key in lists:
                _keep_first(section, key, kept)
        return result

    def _column_names(self) -> set[str]:
        """Every column name the summary may write: the checked, the null-counted, the missing, extra,
        skipped and type-changed ones, and the faulty."""
        dq, evidence = self.data_quality, self.evidence or {}
        names = {str(n) for n in self.columns}
        for key in (
            "null_share",
            "reference_null_share",
            "skipped_columns",
            "missing_columns",
            "extra_columns",
            "started_columns",
        ):
            names.update(str(n) for n in dq.get(key) or ())  # a mapping's keys, a list's entries
        for entry in [*(dq.get("type_changes") or ()), *(evidence.get("faults") or ())]:
            if isinstance(entry, Mapping) and "column" in entry:
                names.add(str(entry["column"]))
        return names

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftSummary:
        """Rebuild a summary from :meth:`to_dict` output (columns cut by ``to_dict`` stay cut)."""
        columns = {
            name: ColumnDrift(
                column=name,
                type=entry["type"],
                method=entry["method"],
                score=math.nan if entry["score"] is None else entry["score"],
                threshold=entry["threshold"],
                drifted=entry["drifted"],
            )
            for name, entry in (data.get("columns") or {}).items()
        }
        return cls(
            dataset_drift=bool(data["dataset_drift"]),
            drift_share=float(data["drift_share"]),
            share_threshold=float(data["share_threshold"]),
            n_columns=int(data["n_columns"]),
            n_drifted=int(data["n_drifted"]),
            columns=columns,
            quality=data.get("quality"),
            n_reference=int(data["n_reference"]),
            n_current=int(data["n_current"]),
            data_quality=dict(data.get("data_quality") or {}),
            top_n=int(data.get("top_n") or 5),
            model_name=data.get("model_name"),
            report_uri=data.get("report_uri"),
            columns_omitted=int(data.get("columns_omitted") or 0),
            report=data.get("report"),
            evidence=data.get("evidence"),
        )


def json_float(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _json_size(value: Any) -> int:
    """Characters of ``value`` as JSON, non-ASCII escaped: what Airflow's XCom stores."""
    return len(json.dumps(value, default=str))


#: The per-column lists of ``data_quality`` that a cut summary shortens, the rest counted in ``<name>_omitted``.
CUT_LISTS = (
    "schema_errors",
    "missing_columns",
    "extra_columns",
    "type_changes",
    "skipped_columns",
    "started_columns",
)


def _keep_first(section: dict[str, Any] | None, key: str, kept: int) -> None:
    """Keep the first ``kept`` entries of ``section[key]`` (a list or a mapping), counting the rest in
    ``<key>_omitted`` (added to a count already there): the decision counts and reads the entries."""
    items = (section or {}).get(key) or []
    if section is None or len(items) <= kept:
        return
    section[key] = dict(list(items.items())[:kept]) if isinstance(items, Mapping) else list(items[:kept])
    section[f"{key}_omitted"] = int(section.get(f"{key}_omitted") or 0) + len(items) - kept


def _json_head(text: str, max_chars: int) -> str:
    """The longest start of ``text`` of at most ``max_chars`` as JSON writes it (without the quotes)."""
    size = 0
    for i, char in enumerate(text):
        size += _json_size(char) - 2
        if size > max_chars:
            return text[:i]
    return text


def _short_names(names: set[str]) -> dict[str, str]:
    """Column name -> its cut form, for the names over ``NAME_MAX_JSON_CHARS`` as JSON writes them:
    the start, ``…`` and 8 hex digits of the name's SHA-1 (two names with one start stay apart)."""
    short = {}
    for name in names:
        if _json_size(name) - 2 > NAME_MAX_JSON_CHARS:
            digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
            short[name] = f"{_json_head(name, NAME_MAX_JSON_CHARS - 16)}…{digest}"  # … is \u2026: 6
    return short


def _renamed(value: Any, short: Mapping[str, str], shortest: int | None = None) -> Any:
    """``value`` with every long column name in ``short`` replaced by its cut form: a whole string or
    key, or inside a message."""
    if shortest is None:
        shortest = min((len(n) for n in short), default=0)
    if isinstance(value, Mapping):
        return {short.get(k, k) if isinstance(k, str) else k: _renamed(v, short, shortest) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_renamed(v, short, shortest) for v in value]
    if isinstance(value, str) and len(value) >= shortest:
        if value in short:
            return short[value]
        for name in sorted((n for n in short if n in value), key=len, reverse=True):
            value = value.replace(name, short[name])
    return value


def _messages_cut(value: Any) -> Any:
    """``value`` with every string over ``MESSAGE_MAX_JSON_CHARS`` as JSON cut, ending in ``…``."""
    if isinstance(value, Mapping):
        return {k: _messages_cut(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_messages_cut(v) for v in value]
    if isinstance(value, str) and _json_size(value) - 2 > MESSAGE_MAX_JSON_CHARS:
        return _json_head(value, MESSAGE_MAX_JSON_CHARS - 6) + "…"
    return value
