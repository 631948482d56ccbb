"""The OOF report: tables, pictures and one HTML page whose every image exists."""

from html.parser import HTMLParser

import numpy as np
import pytest
from testkit import fake_model

from pipeline.reporting.config import ReportConfig
from pipeline.reporting.oof_report import build_report, confused_pairs, confusion, reliability
from pipeline.stages.blend import blend_models
from pipeline.stages.config import BlendConfig
from pipeline.validation.config import FoldsConfig
from pipeline.validation.folds import make_folds


class ImageSources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


def image_sources(page: str) -> list[str]:
    parser = ImageSources()
    parser.feed(page)
    return parser.sources


@pytest.fixture
def report(tiny_data):
    folds = make_folds(tiny_data, FoldsConfig(n_splits=3, seed=0))
    members = [
        fake_model(name, tiny_data, folds, q, i) for i, (name, q) in enumerate([("a", 2.0), ("b", 1.0)])
    ]
    blend = blend_models(tiny_data, folds, *members, cfg=BlendConfig())
    return build_report(tiny_data, *members, blend, cfg=ReportConfig())


def test_every_picture_is_a_png_and_every_image_of_the_page_is_a_picture(report):
    sources = image_sources(report.html)
    assert set(sources) == set(report.pictures)
    assert {"reliability.png", "per_class_log_loss.png", "confusion_blend.png"} <= set(sources)
    assert all(picture.startswith(b"\x89PNG") for picture in report.pictures.values())


def test_tables_cover_every_model_and_class(report, tiny_data):
    overview = report.tables["overview"]
    assert list(overview.index) == ["a", "b", "blend", "blend (all-OOF weights)"]
    assert list(overview["honesty"]) == ["honest"] * 3 + [
        "optimistic: weights fitted on the OOF rows they score"
    ]
    assert overview.loc["a", "OOF log loss"] < overview.loc["b", "OOF log loss"]
    per_class = report.tables["per-class log loss"]
    assert list(per_class.index) == list(tiny_data.classes)
    assert per_class["rows"].sum() == len(tiny_data.labels)
    assert per_class["a share of loss"].sum() == pytest.approx(1.0)
    assert "Nested log loss" in report.html and "(optimistic)" in report.html


def test_confusion_counts_and_most_confused_pairs():
    labels = np.array([0, 0, 0, 1, 1, 2])
    proba = np.eye(3)[[0, 1, 1, 1, 0, 2]]
    matrix = confusion(labels, proba, 3)
    assert matrix.sum() == 6 and matrix[0, 1] == 2 and matrix[1, 0] == 1
    pairs = confused_pairs(matrix, ["A", "B", "C"], top=5)
    assert pairs.iloc[0][["true", "predicted", "rows"]].tolist() == ["A", "B", 2]
    assert len(pairs) == 2 and pairs.iloc[0]["share of true class"] == pytest.approx(2 / 3)


def test_reliability_bins_confidence_against_accuracy():
    labels = np.array([0, 0, 1, 1])
    proba = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.55, 0.45]])
    table = reliability(labels, proba, bins=10)
    assert table["rows"].sum() == 4
    assert table.loc[9, "accuracy"] == 1.0 and table.loc[5, "accuracy"] == 0.0
