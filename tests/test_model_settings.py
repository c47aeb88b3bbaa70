"""A trained model's feature settings against a site's configuration: the model's fill in what the
site left at default, the site's own choices stand and are reported, the source's are never touched."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from classifiers import fight_store
from classifiers.fight_classifier import WINDOW_FEATURES, FightClassifier
from cli.run_cmd import _reload_threshold
from pipeline import models as model_settings
from pipeline.cascade import Cascade
from pipeline.config import Config, load_config
from pipeline.models import load_models

FIGHT = (fight_store.FEATURE_KEYS, fight_store.NAME)  # what the fight model kind registers


def trained_with(**motion) -> dict:
    """Model metadata as `train` writes it, from a config with these motion settings."""
    cfg = Config.model_validate({"motion": motion})
    return {"feature_config": fight_store.feature_config(cfg)}


def test_defaults_take_the_models_settings():
    meta = trained_with(flow_every=2, threshold={"floor": 12.0})
    cfg, conflicts = model_settings.apply_feature_config(load_config(None, []), meta, *FIGHT)
    assert cfg.motion.flow_every == 2 and cfg.motion.threshold.floor == 12.0
    assert conflicts == {}


def test_the_sites_own_settings_stand_and_are_reported():
    meta = trained_with(flow_every=2, threshold={"floor": 12.0, "ceiling": 40.0})
    site = load_config(None, ["motion.flow_every=4", "motion.threshold.floor=20"])
    cfg, conflicts = model_settings.apply_feature_config(site, meta, *FIGHT)
    assert cfg.motion.flow_every == 4 and cfg.motion.threshold.floor == 20.0
    assert cfg.motion.threshold.ceiling == 40.0          # not chosen by the site: the model's
    assert conflicts == {"motion.flow_every": (2, 4), "motion.threshold.floor": (12.0, 20.0)}
    line = model_settings.describe_conflicts("models/", conflicts, "fight")
    assert "\n" not in line and "motion.flow_every=4 (trained with 2)" in line
    assert "motion.threshold.floor=20.0 (trained with 12.0)" in line


def test_a_site_choosing_the_models_own_value_is_no_conflict():
    meta = trained_with(flow_every=2)
    cfg, conflicts = model_settings.apply_feature_config(load_config(None, ["motion.flow_every=2"]), meta, *FIGHT)
    assert cfg.motion.flow_every == 2 and conflicts == {}


def test_source_settings_are_the_sites_even_from_older_models(tmp_path):
    # Models saved before FEATURE_KEYS lost "source" carry the source section too.
    meta = trained_with()
    meta["feature_config"]["source"] = Config().source.model_dump()
    site = tmp_path / "site.yaml"
    site.write_text("source:\n  offline_after_s: 2.0\n  backoff_max_s: 30.0\n  process_width: 640\n")
    cfg, conflicts = model_settings.apply_feature_config(load_config(str(site), []), meta, *FIGHT)
    assert (cfg.source.offline_after_s, cfg.source.backoff_max_s, cfg.source.process_width) == (2.0, 30.0, 640)
    assert conflicts == {}


def test_a_setting_this_version_lacks_is_skipped():
    meta = trained_with()
    meta["feature_config"]["motion"]["gone_setting"] = 7
    cfg, conflicts = model_settings.apply_feature_config(load_config(None, []), meta, *FIGHT)
    assert cfg == Config() and conflicts == {}


def _model_dir(tmp_path, **motion) -> str:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, len(WINDOW_FEATURES))).astype(np.float32)
    y = np.array([0, 1] * 20)
    clf = FightClassifier().fit(X, y)
    fight_store.save(clf, str(tmp_path), Config.model_validate({"motion": motion}), training={})
    return str(tmp_path)


def test_load_models_warns_once_about_the_sites_choices(tmp_path):
    model_dir = _model_dir(tmp_path, flow_every=2)
    lines: list[str] = []
    cfg, models, _ = load_models(model_dir, load_config(None, ["motion.flow_every=5"]), warn=lines.append)
    assert "fight" in models and cfg.motion.flow_every == 5
    assert len(lines) == 1 and "motion.flow_every=5 (trained with 2)" in lines[0]

    lines.clear()
    cfg, _, _ = load_models(model_dir, load_config(None, ["source.offline_after_s=2"]), warn=lines.append)
    assert cfg.motion.flow_every == 2 and cfg.source.offline_after_s == 2.0 and lines == []


def test_threshold_reload_keeps_the_models_threshold_unless_the_site_sets_one(tmp_path, capsys):
    model_dir = _model_dir(tmp_path, threshold={"method": "iterative"})
    metas = load_models(model_dir, load_config(None, []))[2]
    cascade = Cascade(load_config(None, []), 25.0)
    motion = cascade.classical.features.motion

    args = argparse.Namespace(config=None, overrides=[], model_dir=model_dir)
    _reload_threshold(cascade, args, metas)
    assert motion.thresholder.method == "iterative"       # the model's, as at start

    args.overrides = ["motion.threshold.method=fixed", "motion.threshold.value=40"]
    _reload_threshold(cascade, args, metas)
    assert (motion.thresholder.method, motion.thresholder.value) == ("fixed", 40.0)
    assert "motion.threshold.method='fixed' (trained with 'iterative')" in capsys.readouterr().err


def test_fight_classifier_copes_with_one_sided_groups():
    # Every fight clip from one source video: grouped folds would train on normal clips only, so the
    # threshold comes from stratified folds instead, and it still separates the (easy) classes.
    rng = np.random.default_rng(1)
    y = np.array([1] * 6 + [0] * 10)
    X = rng.normal(size=(16, len(WINDOW_FEATURES))) + 3 * y[:, None]
    groups = np.array(["fights"] * 6 + [f"n{i}" for i in range(10)])
    clf = FightClassifier().fit(X, y, groups=groups)
    assert (clf.predict(X) == y).mean() >= 0.9


def test_fight_classifier_needs_two_of_each_class():
    X = np.zeros((3, len(WINDOW_FEATURES)))
    with pytest.raises(ValueError, match="at least 2"):
        FightClassifier().fit(X, np.array([1, 0, 0]))
