"""Configuration: documented defaults, the contract's key names, YAML plus KEY=VALUE overrides, and
one clear UserError (naming the file and the key) for every way a config can be wrong."""

import pytest
import yaml

from core.errors import UserError
from core.settings import parse_override
from pipeline.config import Config, MotionConfig, ThresholdConfig, dump_defaults, load_config


def write(tmp_path, text: str, name: str = "site.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def user_error(*args, **kwargs) -> str:
    with pytest.raises(UserError) as exc:
        load_config(*args, **kwargs)
    return str(exc.value)


# ---------------------------------------------------------------- defaults and contract keys


def test_defaults_validate():
    cfg = load_config()
    assert cfg == Config()
    assert Config.model_validate(cfg.model_dump()) == cfg
    assert cfg.motion.threshold.method == "otsu"
    assert cfg.motion.threshold.floor <= cfg.motion.threshold.ceiling
    assert 0 < cfg.motion.fg_alpha < cfg.motion.bg_alpha < 1
    assert cfg.crowding.max_people == 1
    # The defaults dump round-trips through YAML.
    assert Config.model_validate(yaml.safe_load(dump_defaults())) == cfg


def test_contract_keys_keep_their_names():
    cfg = Config()
    dumped = cfg.model_dump()
    for key in ("site_id", "storage_dir", "modem", "alerts"):
        assert key in dumped
    assert set(dumped["modem"]) >= {"port", "baud"}
    assert "recipients" in dumped["alerts"]
    assert isinstance(cfg.site_id, str) and cfg.site_id
    assert isinstance(cfg.storage_dir, str) and cfg.storage_dir
    assert cfg.modem.port is None and cfg.modem.baud == 115200
    assert cfg.alerts.recipients == []


def test_empty_file_means_defaults(tmp_path):
    assert load_config(write(tmp_path, "")) == Config()
    assert load_config(write(tmp_path, "# only a comment\n", "c.yaml")) == Config()


# ---------------------------------------------------------------- loading and overrides


def test_yaml_file_is_loaded(tmp_path):
    path = write(tmp_path, """
site_id: ATM-0042
storage_dir: /var/lib/atm
modem:
  port: /dev/ttyUSB0
  baud: 9600
alerts:
  recipients: ["+10000000001", "+10000000002"]
motion:
  bg_alpha: 0.1
  threshold:
    method: fixed
    value: 22
""")
    cfg = load_config(path)
    assert cfg.site_id == "ATM-0042" and cfg.storage_dir == "/var/lib/atm"
    assert cfg.modem.port == "/dev/ttyUSB0" and cfg.modem.baud == 9600
    assert cfg.alerts.recipients == ["+10000000001", "+10000000002"]
    assert cfg.motion.bg_alpha == 0.1
    assert cfg.motion.threshold.method == "fixed" and cfg.motion.threshold.value == 22.0
    # Keys the file does not name keep their defaults, also inside a section it does name.
    assert cfg.motion.fg_alpha == MotionConfig().fg_alpha
    assert cfg.motion.threshold.floor == ThresholdConfig().floor
    assert cfg.crowding == Config().crowding


def test_overrides_apply_nested_and_typed(tmp_path):
    path = write(tmp_path, "motion:\n  bg_alpha: 0.1\ncrowding:\n  persist_s: 2.0\n")
    cfg = load_config(path, ["motion.bg_alpha=0.02", "crowding.max_people=2", "modem.port=/dev/ttyS1"])
    assert cfg.motion.bg_alpha == 0.02 and isinstance(cfg.motion.bg_alpha, float)
    assert cfg.crowding.max_people == 2 and isinstance(cfg.crowding.max_people, int)
    assert cfg.crowding.persist_s == 2.0  # the file's other keys survive
    assert cfg.modem.port == "/dev/ttyS1"
    # Overrides work without a file, and the later one wins.
    cfg = load_config(None, ["motion.threshold.method=fixed", "motion.threshold.value=40",
                             "crowding.max_people=2", "crowding.max_people=3",
                             "alerts.recipients=['+10000000001']", "motion.median=false"])
    assert cfg.motion.threshold.method == "fixed" and cfg.motion.threshold.value == 40.0
    assert cfg.crowding.max_people == 3
    assert cfg.alerts.recipients == ["+10000000001"]
    assert cfg.motion.median is False


def test_parse_override():
    assert parse_override("motion.bg_alpha=0.02") == ("motion.bg_alpha", 0.02)
    assert parse_override("crowding.max_people=2") == ("crowding.max_people", 2)
    assert parse_override(" site_id = ATM-7") == ("site_id", "ATM-7")
    assert parse_override("motion.median=no") == ("motion.median", False)  # YAML 1.1 boolean
    assert parse_override("fight.threshold=") == ("fight.threshold", None)
    assert parse_override("storage_dir=a=b") == ("storage_dir", "a=b")  # only the first '=' splits


# ---------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    missing = str(tmp_path / "nope.yaml")
    msg = user_error(missing)
    assert "not found" in msg and missing in msg
    assert "not found" in user_error(str(tmp_path))  # a directory is not a config file


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = write(tmp_path, "site_id: ATM-1\nmotion:\n  bg_alpha: 0.1\n   fg_alpha: [0.01\n")
    msg = user_error(path)
    assert path in msg and "line 4" in msg and "YAML" in msg


def test_top_level_must_be_a_mapping(tmp_path):
    path = write(tmp_path, "- site_id: ATM-1\n- motion: {}\n")
    msg = user_error(path)
    assert path in msg and "mapping" in msg
    assert "mapping" in user_error(write(tmp_path, "just a string\n", "s.yaml"))


def test_unknown_key_is_refused(tmp_path):
    path = write(tmp_path, "motoin:\n  bg_alpha: 0.02\n")
    msg = user_error(path)
    assert path in msg and "motoin" in msg
    msg = user_error(write(tmp_path, "motion:\n  bg_alhpa: 0.02\n", "b.yaml"))
    assert "motion.bg_alhpa" in msg
    msg = user_error(None, ["crowding.max_peeple=2"])
    assert "crowding.max_peeple" in msg and "overrides" in msg


def test_out_of_range_value(tmp_path):
    path = write(tmp_path, "motion:\n  bg_alpha: 2\n")
    msg = user_error(path)
    assert path in msg and "motion.bg_alpha" in msg
    msg = user_error(None, ["motion.bg_alpha=2"])
    assert "motion.bg_alpha" in msg
    assert "crowding.max_people" in user_error(None, ["crowding.max_people=0"])
    assert "motion.threshold.value" in user_error(None, ["motion.threshold.value=300"])
    assert "modem.baud" in user_error(None, ["modem.baud=fast"])
    with pytest.raises(Exception):
        Config().motion.bg_alpha = 2  # validate_assignment: no sneaking past the checks at run time


def test_fixed_threshold_needs_a_value(tmp_path):
    path = write(tmp_path, "motion:\n  threshold:\n    method: fixed\n")
    msg = user_error(path)
    assert path in msg and "motion.threshold" in msg and "value" in msg
    assert "motion.threshold" in user_error(None, ["motion.threshold.method=fixed"])
    msg = user_error(None, ["motion.threshold.floor=40", "motion.threshold.ceiling=20"])
    assert "ceiling" in msg


def test_a_value_that_would_be_ignored_is_refused(tmp_path):
    # A threshold value with Otsu running would do nothing; so would a misspelt event type.
    msg = user_error(write(tmp_path, "motion:\n  threshold:\n    value: 20\n"))
    assert "motion.threshold" in msg and "fixed" in msg
    assert "fihgt" in user_error(None, ["alerts.severity={fihgt: attack}"])
    cfg = load_config(None, ["alerts.severity={fight: off, crowding: attack}"])  # unquoted off is YAML's false
    assert cfg.alerts.severity == {"fight": "off", "crowding": "attack"}


def test_phone_numbers_are_checked_at_start():
    assert "alerts.guard" in user_error(None, ["alerts.guard=['12ab']"])
    assert "alerts.recipients" in user_error(None, ["alerts.recipients=['+1555', 'guard']"])
    assert load_config(None, ["alerts.guard=['+1 555 0101']"]).alerts.guard == ["+15550101"]


def test_no_infinite_or_huge_times():
    for bad in ("fight.window_s=.inf", "crowding.persist_s=.nan", "evidence.pre_s=1e9", "fight.window_s=1e9",
                "tamper.calibrate_s=.inf", "evidence.quota_mb=.inf"):
        assert bad.split("=")[0] in user_error(None, [bad])


def test_malformed_overrides():
    for bad in ("motion.bg_alpha", "=3", "  =3"):
        with pytest.raises(UserError, match="KEY=VALUE"):
            parse_override(bad)
        assert "KEY=VALUE" in user_error(None, [bad])
    with pytest.raises(UserError, match="YAML"):
        parse_override("alerts.recipients=[1, 2")
    # A section cannot be overridden as if it were a key, nor a key as if it were a section.
    assert "site_id" in user_error(None, ["site_id=ATM-1", "site_id.x=1"])
    assert "motion" in user_error(None, ["motion=3"])


def test_unreadable_file(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"site_id: caf\xe9\n")
    assert str(path) in user_error(str(path))


# ---------------------------------------------------------------- generated example


def test_config_example_is_generated_from_the_settings_classes():
    """Every key with its default and description, from the code: `python -m pipeline.config`."""
    from conftest import ROOT
    from pipeline.config import example_yaml

    with open(f"{ROOT}/config.example.yaml", encoding="utf-8") as fh:
        committed = fh.read()
    assert committed == example_yaml(), "regenerate: python -m pipeline.config > config.example.yaml"
    assert load_config(f"{ROOT}/config.example.yaml") == Config()


def test_every_setting_has_a_description():
    from pydantic import BaseModel

    missing = []

    def walk(section: BaseModel, prefix: str) -> None:
        fields = type(section).model_fields
        for name in [*fields, *(section.__pydantic_extra__ or {})]:
            value = getattr(section, name)
            if name in fields and not fields[name].description:
                missing.append(prefix + name)
            if isinstance(value, BaseModel):
                walk(value, f"{prefix}{name}.")

    walk(Config(), "")
    assert missing == []
