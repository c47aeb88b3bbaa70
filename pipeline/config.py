"""One validated configuration object with documented defaults, loaded from YAML, overridable by flags.

The keys `site_id`, `storage_dir`, `modem.port`, `modem.baud` and `alerts.recipients` are part of the
deployment contract (../shared/CONTRACT.md) and keep their names; everything else is ours.
Unknown keys are refused rather than ignored: a misspelt threshold that silently falls back to its
default is how a site ends up crying wolf.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.errors import UserError


class _Section(BaseModel):
    # No inf or NaN anywhere: a time of .inf would overflow a buffer size or a deadline deep inside.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class ModemConfig(_Section):
    port: str | None = Field(None, description="serial device of the GSM modem, e.g. /dev/ttyUSB0")
    baud: int = Field(115200, gt=0)


class AlertsConfig(_Section):
    recipients: list[str] = Field(default_factory=list, description="phone numbers for SMS; never commit real ones")
    guard: list[str] = Field(default_factory=list,
                             description="who gets the door's one-time code (empty: the recipients)")
    cooldown_s: float = Field(60.0, ge=0,
                              description="one alert (SMS and buzzer) per event type within this time; every event "
                                          "is still logged and stored")
    severity: dict[str, Literal["warning", "attack", "off"]] = Field(
        default_factory=dict,
        description="override an event type's severity, e.g. {crowding: attack}; off: logged, no alert")
    retry_initial_s: float = Field(5.0, gt=0, description="first retry of an SMS the modem refused")
    retry_max_s: float = Field(300.0, gt=0, description="retries back off up to this interval, and never stop")

    @field_validator("recipients", "guard")
    @classmethod
    def _numbers(cls, numbers: list[str]) -> list[str]:
        # Refused at start, not found out when the first alarm's SMS fails.
        from hw_io.modem import check_number

        return [check_number(n) for n in numbers]

    @field_validator("severity", mode="before")
    @classmethod
    def _event_types(cls, severity: Any) -> Any:
        from pipeline.events import EVENT_TYPES

        if not isinstance(severity, dict):
            return severity
        unknown = sorted(str(k) for k in set(severity) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event type(s) {', '.join(unknown)}; expected some of {', '.join(EVENT_TYPES)}")
        # YAML reads an unquoted `off` as false.
        return {k: "off" if v is False else v for k, v in severity.items()}


class HardwareConfig(_Section):
    buzzer_pin: int = Field(17, ge=0, le=40, description="GPIO (BCM) pin of the buzzer")
    attack_buzz_s: float = Field(30.0, gt=0, description="how long the buzzer sounds for an attack")
    door_relay_pin: int = Field(27, ge=0, le=40, description="GPIO pin of the door-lock relay (on = locked)")
    keypad_digit_pins: dict[str, int] = Field(
        default_factory=lambda: {"0": 5, "1": 6, "2": 12, "3": 13, "4": 16, "5": 19, "6": 20, "7": 21, "8": 26,
                                 "9": 22},
        description="GPIO pin per keypad digit (one wire per key)")
    keypad_enter_pin: int = Field(23, ge=0, le=40, description="GPIO pin of the keypad's enter key")
    otp_ttl_s: float = Field(120.0, gt=0, description="the door's one-time code expires after this")
    otp_attempts: int = Field(3, ge=1, le=10, description="wrong codes allowed before the door stays locked")
    atm_state: str | None = Field(None, description="where the ATM reports its state: serial:/dev/ttyUSB1@9600, "
                                                    "tcp:HOST:PORT or unix:/path (None: unknown)")


class EvidenceConfig(_Section):
    pre_s: float = Field(3.0, ge=0, le=120, description="seconds of video kept before an event (held in memory)")
    post_s: float = Field(3.0, ge=0, le=120, description="seconds of video kept after an event")
    quota_mb: float = Field(500.0, gt=0, description="evidence beyond this is deleted, oldest first")
    codec: Literal["MJPG", "mp4v"] = Field("MJPG", description="clip codec: MJPG (.avi) or mp4v (.mp4)")


class SourceConfig(_Section):
    process_width: int = Field(320, ge=64, le=1920,
                               description="evidence clips (and later stages) get frames at most this wide; the "
                                           "cheap stage reads the decoded frame itself")
    backoff_initial_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(8.0, gt=0)
    offline_after_s: float = Field(5.0, gt=0,
                                   description="a camera down this long raises camera_offline when tamper.enabled "
                                               "is false; with tamper on, the tamper watchdog's offline_s decides")


class ThresholdConfig(_Section):
    method: Literal["otsu", "iterative", "fixed"] = Field(
        "otsu", description="how the background-difference image is binarised; 'fixed' uses `value`")
    value: float | None = Field(None, ge=0, le=255, description="the fixed threshold, grey levels")
    floor: float = Field(15.0, ge=0, le=255,
                         description="never threshold below this: on a still scene Otsu would split sensor noise")
    ceiling: float = Field(30.0, ge=0, le=255,
                           description="never above this: one high-contrast newcomer must not make Otsu drop the others")

    @model_validator(mode="after")
    def _fixed_needs_value(self) -> "ThresholdConfig":
        if self.method == "fixed" and self.value is None:
            raise ValueError("threshold.method 'fixed' needs threshold.value")
        if self.method != "fixed" and self.value is not None:
            # Otherwise the value would be ignored without a word while Otsu or the iterative method runs.
            raise ValueError(f"threshold.value is used only with method 'fixed' (method is {self.method!r})")
        if self.ceiling < self.floor:
            raise ValueError("threshold.ceiling is below threshold.floor")
        return self


class MotionConfig(_Section):
    width: int = Field(80, ge=32, le=640,
                       description="background subtraction and blobs run at this width (flow at 80 px, tamper at 160)")
    flow_every: int = Field(3, ge=1, le=10,
                            description="optical flow runs on every k-th moving frame, measured across those k frames")
    median: bool = Field(True, description="3x3 zero-padded median before background subtraction")
    bg_alpha: float = Field(0.05, gt=0, lt=1, description="rolling-average learning rate of the background")
    fg_alpha: float = Field(0.001, ge=0, lt=1,
                            description="slower rate under foreground, so a person standing still fades slowly")
    close_radius: int = Field(2, ge=0, le=15, description="radius of the disk used for morphological closing")
    min_blob_frac: float = Field(0.002, gt=0, lt=1, description="blobs smaller than this fraction of the frame are noise")
    global_change_frac: float = Field(0.55, gt=0, le=1,
                                      description="more of the frame than this changing at once is lighting, not motion")
    global_luma_jump: float = Field(25.0, gt=0, description="a mean-brightness jump this large is a lighting change")
    calibrate_frames: int = Field(15, ge=1, description="frames spent relearning the scene after start or a lighting change")
    threshold: ThresholdConfig = Field(default_factory=ThresholdConfig)


class CrowdingConfig(_Section):
    max_people: int = Field(1, ge=1, description="more person-sized moving blobs than this is crowding (1 in a booth)")
    person_min_frac: float = Field(0.02, gt=0, lt=1, description="smallest person-sized blob, fraction of the frame")
    persist_s: float = Field(1.5, ge=0, le=600, description="crowding must hold for this long (median over the window)")


class FightConfig(_Section):
    window_s: float = Field(2.0, gt=0, le=60, description="the fight score looks at this many seconds of motion")
    hop_s: float = Field(0.5, gt=0, le=60, description="the score is recomputed this often")
    min_window_s: float = Field(1.0, gt=0, le=60,
                                description="scoring starts once the window holds this much footage (after a start "
                                            "or a lighting change), also while the background is still learning: "
                                            "a fight can begin a second after someone walks in")
    threshold: float | None = Field(None, ge=0, le=1,
                                    description="override the threshold saved with the model (None: use the model's)")
    min_motion_frac: float = Field(0.01, ge=0, lt=1, description="no fight is scored on a scene this still")


class EventsConfig(_Section):
    cooldown_s: float = Field(10.0, ge=0, description="the same event type is not repeated within this time")
    clear_s: float = Field(3.0, ge=0, description="a condition absent this long ends its episode")


class TamperConfig(_Section):
    """Camera tampering (covered, defocused, moved, offline); see detectors/tamper.py."""

    enabled: bool = Field(True, description="watch for a covered, defocused, moved or silent camera")
    persist_s: float = Field(0.4, ge=0, description="a tamper condition must hold this long before it is an event")
    offline_s: float = Field(0.75, gt=0,
                             description="no frame for this long from a live source raises camera_offline "
                                         "(replaces source.offline_after_s while tamper is enabled)")
    check_hz: float = Field(12.0, gt=0, le=120,
                            description="tamper checks per second (every k-th frame); flags hold in between")
    calibrate_s: float = Field(0.3, gt=0, le=60, description="footage averaged into the reference view and sharpness baseline")
    adapt_s: float = Field(30.0, gt=0, description="time constant with which the baselines follow the scene "
                                                    "(only while nothing is suspected)")
    cover_frac: float = Field(0.6, gt=0, le=1,
                              description="covered: this fraction of the informative cells blind (flat, or lost "
                                          "and unchanging); a real cover hides 80 % or more")
    defocus_ratio: float = Field(0.7, gt=0, lt=1,
                                 description="defocused: fine-over-coarse detail below this fraction of the baseline")
    jump_frac: float = Field(0.03, gt=0, lt=1,
                             description="moved: the view must jump at least this fraction of the width between "
                                         "two checks (slower drift is a PTZ or handheld camera's own motion)")
    move_frac: float = Field(0.015, gt=0, lt=1,
                             description="moved: still displaced by this fraction of the width persist_s later")


class RuntimeConfig(_Section):
    opencv_threads: int = Field(
        1, ge=-1, le=64,
        description="OpenCV threads on the per-frame path (-1: its default, one per core); its pool "
                    "shortens the wall time a little for far more CPU time (see bench *_cpu_ms)")


class Config(_Section):
    site_id: str = Field("ATM-0001", min_length=1, description="appears in every alert")
    storage_dir: str = Field("var/", min_length=1, description="outbox, event store, evidence; created if missing")
    modem: ModemConfig = Field(default_factory=ModemConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    source: SourceConfig = Field(default_factory=SourceConfig)
    motion: MotionConfig = Field(default_factory=MotionConfig)
    crowding: CrowdingConfig = Field(default_factory=CrowdingConfig)
    fight: FightConfig = Field(default_factory=FightConfig)
    tamper: TamperConfig = Field(default_factory=TamperConfig)
    hardware: HardwareConfig = Field(default_factory=HardwareConfig)
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)


def _describe(err: ValidationError, where: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"invalid config {where}: {loc}: {first['msg']}{more}"


def _set_path(data: dict, dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserError(f"invalid override {dotted}: {part} is not a section")
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """`motion.bg_alpha=0.02` -> ("motion.bg_alpha", 0.02); the value is read as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise UserError(f"invalid override {text!r}: expected KEY=VALUE, e.g. crowding.max_people=2")
    try:
        return key.strip(), yaml.safe_load(raw)
    except yaml.YAMLError:
        raise UserError(f"invalid override {text!r}: value is not valid YAML") from None


def load_config(path: str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults, then the YAML file, then `KEY=VALUE` overrides; every failure is a UserError."""
    data: dict = {}
    where = "defaults"
    if path:
        where = path
        if not os.path.isfile(path):
            raise UserError(f"config file not found: {path}")
        try:
            with open(path, encoding="utf-8") as fh:
                loaded = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" line {mark.line + 1}" if mark is not None else ""
            raise UserError(f"invalid config {path}:{at} not valid YAML") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read config {path}: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise UserError(f"invalid config {path}: the top level must be a mapping of keys")
        data = loaded
    for text in overrides:
        key, value = parse_override(text)
        _set_path(data, key, value)
    if overrides:
        where = f"{where} + overrides"
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise UserError(_describe(err, where)) from None


def dump_defaults() -> str:
    """The default configuration as commented-free YAML, for `run.py config` and the README."""
    return yaml.safe_dump(Config().model_dump(), sort_keys=False)
