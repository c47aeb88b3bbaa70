"""The root configuration, assembled in this one place from the sections that live beside the code
that reads them, plus one section per registered detector and refiner (`cfg.<name>`).

The keys `site_id`, `storage_dir`, `modem.port`, `modem.baud` and `alerts.recipients` are part of the
deployment contract (../shared/CONTRACT.md) and keep their names; everything else is ours. Unknown keys
are refused rather than ignored. `python -m pipeline.config` prints config.example.yaml.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

import detectors  # noqa: F401  (registers the built-in detectors and their sections)
import pipeline.refiners  # noqa: F401  (registers the built-in stage-2 refiners and their sections)
import sources.health  # noqa: F401  (registers camera_unstable: alerts.severity accepts it in every command)
from core import settings
from core.detector import detectors as registered_detectors
from core.refiner import refiners as registered_refiners
from core.settings import Section
from features.motion import MotionConfig, ThresholdConfig  # noqa: F401  (re-exported for callers)
from hw_io.evidence import EvidenceConfig
from hw_io.hardware import HardwareConfig
from hw_io.modem import ModemConfig
from pipeline.alerts import AlertsConfig
from pipeline.decision import EventsConfig
from pipeline.gate import GateConfig
from pipeline.runtime import RuntimeConfig
from sources.frame_source import SourceConfig


class ModelsConfig(Section):
    """Trained models and how they are trusted."""

    signing_key: str | None = Field(
        None, description="a key file kept outside the model folder: when set, a model folder must carry a "
                          "SIGNATURE made with it (python run.py sign), checked before anything is opened")


def plugin_sections() -> dict[str, type[Section]]:
    """Section name -> settings class of every registered detector and refiner that has one."""
    out: dict[str, type[Section]] = {}
    for cls in [*registered_detectors(), *registered_refiners()]:
        if getattr(cls, "Settings", None) is not None:
            out[cls.name] = cls.Settings
    return out


class Config(Section):
    # Detector and refiner sections are not fields: they are whatever the registries hold when the
    # configuration is validated (the validator below builds and checks them), so a new detector's
    # section needs no line here.
    model_config = ConfigDict(extra="allow", validate_assignment=True, allow_inf_nan=False)

    site_id: str = Field("ATM-0001", min_length=1, description="appears in every alert")
    storage_dir: str = Field("var/", min_length=1, description="outbox, event store, evidence; created if missing")
    modem: ModemConfig = Field(default_factory=ModemConfig, description="the GSM modem that sends the SMS")
    alerts: AlertsConfig = Field(default_factory=AlertsConfig, description="who is told, how severely, how often")
    source: SourceConfig = Field(default_factory=SourceConfig, description="the camera, file or stream")
    motion: MotionConfig = Field(default_factory=MotionConfig,
                                 description="the cheap stage's features: background subtraction, blobs, flow")
    hardware: HardwareConfig = Field(default_factory=HardwareConfig, description="the kiosk's GPIO and ATM link")
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig, description="snapshots and clips per event")
    events: EventsConfig = Field(default_factory=EventsConfig, description="from flags to events")
    gate: GateConfig = Field(default_factory=GateConfig, description="which frames go on to stage 2")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, description="process-wide settings")
    models: ModelsConfig = Field(default_factory=ModelsConfig, description="trained models and how they are trusted")

    @model_validator(mode="before")
    @classmethod
    def _plugin_sections(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        sections = plugin_sections()
        unknown = sorted(str(k) for k in data if k not in cls.model_fields and k not in sections)
        if unknown:
            raise PydanticCustomError("unknown_section", "{key}: unknown section or key (known: {known})",
                                      {"key": unknown[0], "known": ", ".join([*cls.model_fields, *sections])})
        for name, section_cls in sections.items():
            value = data.get(name, {})
            if isinstance(value, section_cls):
                continue
            if value is None:
                value = {}
            try:
                data[name] = section_cls.model_validate(value)
            except ValidationError as err:
                first = err.errors()[0]
                loc = ".".join(str(p) for p in (name, *first["loc"]))
                raise PydanticCustomError("section", "{loc}: {msg}",
                                          {"loc": loc, "msg": first["msg"].removeprefix("Value error, ")}) from None
        return data

    @model_validator(mode="after")
    def _needs(self) -> "Config":
        _check_needs(self)
        return self


def _check_needs(cfg: "Config") -> None:
    """A detector that reads another's output (`needs`) cannot run without it."""
    for cls in registered_detectors():
        if not cls.enabled(getattr(cfg, cls.name)):
            continue
        for need in cls.needs:
            dep = next((d for d in registered_detectors() if d.name == need), None)
            if dep is None or not dep.enabled(getattr(cfg, need)):
                raise PydanticCustomError("needs", "{name}: needs {need}.enabled true (it reads what {need} "
                                          "computes); or set {name}.enabled false",
                                          {"name": cls.name, "need": need})


def load_config(path: str | None = None, overrides: list[str] | tuple[str, ...] = (),
                defaults: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults (then a command's own `defaults`), then the YAML file, then `KEY=VALUE` overrides;
    every failure is a UserError."""
    return settings.load(Config, path, overrides, defaults)


EXAMPLE_HEADER = """\
# ATM Sentinel configuration: every key with its default and what it does. Copy, edit, pass with --config FILE.
# Generated by `python -m pipeline.config > config.example.yaml` from the settings classes: do not edit by hand.
# Keys site_id, storage_dir, modem.*, alerts.recipients are the deployment contract.
# Never commit real phone numbers: keep recipients in a site-local file.
"""


def example_yaml() -> str:
    return settings.example_yaml(Config(), EXAMPLE_HEADER)


def dump_defaults() -> str:
    """The default configuration as plain YAML."""
    import yaml

    return yaml.safe_dump(Config().model_dump(), sort_keys=False)


if __name__ == "__main__":
    print(example_yaml(), end="")
