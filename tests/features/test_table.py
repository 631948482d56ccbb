import pytest

from features.config import FeaturesConfig
from features.table import build_features


def test_select_keeps_rows_and_orders_columns_as_asked(tiny_data):
    table = build_features(tiny_data, FeaturesConfig())
    picked = table.select(("modelMag_r", "fiberID"))
    assert picked.names == ["modelMag_r", "fiberID"]
    assert picked.train.index.equals(table.train.index) and picked.test.index.equals(table.test.index)
    with pytest.raises(KeyError, match="not_a_feature"):
        table.select(("not_a_feature",))
