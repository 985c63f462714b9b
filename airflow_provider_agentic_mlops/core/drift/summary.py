"""The drift summary: small, JSON-able, what the decision step reads."""

from __future__ import annotations

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
        broken data. ``notes``: what was read another way or left out, no fault (columns outside
        ``feature_columns`` new in the current data, ignored).
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
        for section, key in (
            *((data_quality, key) for key in ("schema_errors", "missing_columns", "extra_columns")),
            (data_quality, "type_changes"),
            (data_quality, "skipped_columns"),
            (evidence, "faults"),
        ):
            items = (section or {}).get(key) or []
            if len(items) > kept:  # a count, not a text item: the decision counts and reads the entries
                section[key] = dict(list(items.items())[:kept]) if isinstance(items, Mapping) else list(items[:kept])
                section[f"{key}_omitted"] = len(items) - kept
        # 2. Fewer columns, most severe first.
        keep = len(ordered)
        while keep > 0 and _json_size(result) > max_bytes:
            keep = keep // 2 if keep > 8 else keep - 1
            result["columns"] = {c.column: c.to_dict() for c in ordered[:keep]}
            result["columns_omitted"] = self.columns_omitted + len(ordered) - keep
        # 3. Fewer null shares.
        while with_nulls and _json_size(result) > max_bytes:
            with_nulls = with_nulls[: len(with_nulls) // 2]
            keep_null_shares(with_nulls)
        return result

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
    return len(json.dumps(value, default=str))
