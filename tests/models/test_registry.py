"""A model family is one spec and one registry entry: a toy family defined here, registered through the
registry alone (no framework file edited), trains, blends with LightGBM and is tuned on its own space."""

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from testkit import TINY, make_runner, run_cli

from models import registry
from models.spec import ModelSpec, SpecError
from models.training import FamilyTrainer
from pipeline.config import default_config_toml, load_config
from pipeline.engine.errors import ConfigError
from pipeline.engine.settings import setting
from pipeline.validation.cv import TUNED_ON_THESE_FOLDS


@dataclass(frozen=True)
class ToyConfig:
    """Multinomial logistic regression on clipped, standardised features."""

    C: float = setting(1.0, "inverse regularisation strength")
    max_iter: int = setting(60)
    early_stopping: str = setting("inner")
    inner_share: float = setting(0.1)
    seed: int = setting(0)
    settings: str = setting("config", choices=("config", "tuned"))


class ToyFoldModel:
    def __init__(self, cfg: ToyConfig, n_classes: int):
        self.cfg, self.n_classes = cfg, n_classes

    def fit(self, x_fit, y_fit, x_stop, y_stop) -> None:
        self.low, self.high = np.nanquantile(x_fit, [0.01, 0.99], axis=0)
        self.scaler = StandardScaler().fit(np.clip(x_fit, self.low, self.high))
        self.model = LogisticRegression(C=self.cfg.C, max_iter=self.cfg.max_iter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lbfgs stops at max_iter on purpose: a quick model
            self.model.fit(self.scaler.transform(np.clip(x_fit, self.low, self.high)), y_fit)

    def predict_proba(self, x) -> np.ndarray:
        proba = np.full((len(x), self.n_classes), 1e-9)
        proba[:, self.model.classes_] = self.model.predict_proba(
            self.scaler.transform(np.clip(x, self.low, self.high))
        )
        return proba / proba.sum(axis=1, keepdims=True)


class ToyTrainer(FamilyTrainer):
    def fold_model(self, cfg, n_classes, names, fold, seed_index, label):
        return ToyFoldModel(cfg, n_classes)


TOY = ModelSpec(
    name="toy",
    section=ToyConfig,
    trainer=ToyTrainer(),
    code=(__name__,),
    libraries=("scikit-learn",),
    space={"C": {"low": 0.01, "high": 10.0, "log": True}},
    space_key_ok=lambda name: name == "C",
    pruned=False,
)
TOY_RUN = ['blend.models=["lgbm", "toy"]', 'toy.settings="tuned"', 'tune.models=["toy"]', "tune.n_trials=3",
           "tune.pruner_startup_trials=1", 'parallel.backend="sequential"']  # fmt: skip


def test_a_registered_family_trains_blends_with_lightgbm_and_is_tuned_on_its_own_space(tmp_path):
    sets = [item for override in TOY_RUN for item in ("--set", override)]
    with registry.registered(TOY):
        assert run_cli(tmp_path, "--stage", "blend", *sets) == 0
        config = load_config(overrides=[*TINY, *TOY_RUN])
        runner = make_runner(config, tmp_path / "cache")
        blend, toy, study = runner.run("blend"), runner.artifact("toy"), runner.artifact("tune_toy")
    assert runner.records["blend"].status == "cached"  # the command line computed it
    assert set(blend.info["weights"]) == {"lgbm", "toy"}
    assert study.finished == 3 and set(study.params) == {"C"}
    assert study.trials["param_C"].between(0.01, 10.0).all()
    assert TUNED_ON_THESE_FOLDS in toy.optimism and toy.oof_score < 2.5
    assert toy.oof_proba.shape[1] == 19 and np.allclose(toy.oof_proba.sum(axis=1), 1.0)


def test_a_registered_family_gets_its_section_stage_and_defaults(tmp_path):
    with registry.registered(TOY):
        config = load_config(overrides=["toy.C=0.5"])
        assert config.toy == ToyConfig(C=0.5)
        assert "[toy]" in default_config_toml() and "[tune.space.toy]" in default_config_toml()
        assert "toy" in registry.model_stage_names() and "toy_pruned" not in registry.model_stage_names()
        with pytest.raises(ConfigError, match="blend.models: 'toy_pruned'"):
            load_config(overrides=['blend.models=["toy_pruned"]'])
    with pytest.raises(ConfigError, match="unknown section 'toy'"):
        load_config(overrides=["toy.C=0.5"])  # gone with its registration


@pytest.mark.parametrize(
    "change, message",
    [
        ({"trainer": object()}, "trainer lacks fold_model"),
        ({"trainer": "no_colon"}, "trainer must be 'module:attribute'"),
        ({"section": dict}, "section must be a frozen dataclass"),
        ({"code": ()}, "code must name the modules"),
        ({"space_key_ok": None}, "a search space needs space_key_ok"),
        ({"name": "blend"}, "name must be an identifier other than"),
    ],
)
def test_a_spec_missing_a_piece_fails_when_it_is_made(change, message):
    space = {"C": {"low": 0.1, "high": 1.0}}
    pieces = {"name": "bad", "section": ToyConfig, "trainer": ToyTrainer(), "code": (__name__,),
              "space": space, "space_key_ok": lambda name: True, **change}  # fmt: skip
    with pytest.raises(SpecError, match=message):
        ModelSpec(**pieces)


def test_a_section_without_defaults_is_refused():
    @dataclass(frozen=True)
    class NoDefault:
        C: float

    with pytest.raises(SpecError, match="needs a default for every setting"):
        ModelSpec(name="bad", section=NoDefault, trainer=ToyTrainer(), code=(__name__,))


def test_the_shipped_families_and_their_stages():
    assert registry.family_names() == ("lgbm", "mlp", "xgb", "catboost")
    assert registry.model_stage_names() == (
        "lgbm", "mlp", "xgb", "catboost", "lgbm_pruned", "mlp_pruned", "xgb_pruned", "catboost_pruned",
    )  # fmt: skip
    assert registry.spec("lgbm_pruned").name == "lgbm"
    with pytest.raises(SpecError, match="registered already"):
        with registry.registered(registry.spec("lgbm")):
            pass


def test_a_family_whose_library_is_missing_is_refused_in_one_line_naming_its_extra(monkeypatch):
    from pipeline.engine.errors import ConfigError

    spec = dataclasses.replace(registry.spec("xgb"), libraries=("xgboost", "no-such-distribution"))
    assert spec.missing_libraries() == ["no-such-distribution"]
    with pytest.raises(
        ConfigError, match=r'needs no-such-distribution, not installed here: pip install -e "\.\[zoo\]"'
    ):
        spec.load_trainer()


def test_a_preset_needing_a_missing_family_stops_before_anything_runs(tmp_path, capsys, monkeypatch):
    original = ModelSpec.missing_libraries
    monkeypatch.setattr(
        ModelSpec,
        "missing_libraries",
        lambda self: ["catboost"] if self.name == "catboost" else original(self),
    )
    zoo_blend = '["lgbm", "xgb", "catboost"]'  # the tiny settings' blend.models would replace the preset's
    assert run_cli(tmp_path, "--preset", "zoo", "--set", f"blend.models={zoo_blend}", "--stage", "all") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: config: model family 'catboost' needs catboost, not installed here: pip install -e \".[zoo]\""
    ]
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()
