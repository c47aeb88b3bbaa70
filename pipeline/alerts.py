"""Alert policy: which events become alerts, how severe they are, and the SMS text for them.

Sits between pipeline/decision (events) and hw_io (outbox, buzzer). One alert per event type per
cooldown, so a fight that keeps being re-detected does not flood the guard's phone, while a different
event type during the cooldown still gets through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal, Mapping

from pydantic import Field, field_validator

from core.events import ATTACK, WARNING, default_severities, event_types
from core.settings import Section
from hw_io.gsm7 import fit_sms
from hw_io.modem import check_number

OFF = "off"
# Default severities come from the event registry (each detector declares its own); an event type
# nobody declared still alerts: a silent new detector is worse than a noisy one.
DEFAULT_SEVERITY = WARNING
_LEVELS = (ATTACK, WARNING, OFF)


class AlertsConfig(Section):
    recipients: list[str] = Field(default_factory=list, description="phone numbers for SMS; never commit real ones")
    guard: list[str] = Field(default_factory=list,
                             description="who gets the door's one-time code (empty: the recipients)")
    cooldown_s: float = Field(60.0, ge=0,
                              description="one alert (SMS and buzzer) per event type within this time; every event "
                                          "is still logged and stored")
    severity: dict[str, Literal["warning", "attack", "off"]] = Field(
        default_factory=dict,
        description="override an event type's severity, e.g. {crowding: attack}; off: logged, no alert")
    notify_end: list[str] = Field(
        default_factory=lambda: ["camera_offline"],
        description="event types whose end is texted too (one RESOLVED SMS: 'the camera is back'); every other "
                    "end record is stored, never texted")
    alert_after_s: dict[str, float] = Field(
        default_factory=dict,
        description="alert for these types only once the episode has lasted this long, e.g. {camera_offline: 30}: "
                    "a short network blip is stored but neither buzzes nor texts (nor texts its end)")
    retry_initial_s: float = Field(5.0, gt=0, description="first retry of an SMS the modem refused")
    retry_max_s: float = Field(300.0, gt=0, description="retries back off up to this interval, and never stop")

    @field_validator("recipients", "guard")
    @classmethod
    def _numbers(cls, numbers: list[str]) -> list[str]:
        # Refused at start, not found out when the first alarm's SMS fails.
        return [check_number(n) for n in numbers]

    @field_validator("notify_end", "alert_after_s")
    @classmethod
    def _known_types(cls, types):
        unknown = sorted(set(types) - set(event_types()))
        if unknown:
            raise ValueError(f"unknown event type(s) {', '.join(unknown)}")
        if isinstance(types, dict) and any(not 0 <= v <= 86400 for v in types.values()):
            raise ValueError("alert_after_s values must be between 0 and 86400 seconds")
        return types

    @field_validator("severity", mode="before")
    @classmethod
    def _event_types(cls, severity: Any) -> Any:
        if not isinstance(severity, dict):
            return severity
        known = event_types()  # whatever the registered detectors and refiners raise
        unknown = sorted(str(k) for k in set(severity) - set(known))
        if unknown:
            raise ValueError(f"unknown event type(s) {', '.join(unknown)}; expected some of {', '.join(known)}")
        # YAML reads an unquoted `off` as false.
        return {k: "off" if v is False else v for k, v in severity.items()}


@dataclass(frozen=True)
class Alert:
    severity: str
    event_type: str
    text: str
    recipients: tuple[str, ...]
    evidence_id: str | None = None
    time: float = 0.0


class AlertPolicy:
    def __init__(self, site_id: str, recipients: list[str] | tuple[str, ...], cooldown_s: float = 60.0,
                 overrides: Mapping[str, str] | None = None, tz: tzinfo | None = None):
        """`overrides` maps event type to "attack", "warning" or "off" (no alert); `tz` defaults to
        the kiosk's local time zone, which is what the guard reads the time in."""
        self.site_id = str(site_id)
        self.recipients = tuple(check_number(r) for r in recipients)
        self.cooldown_s = float(cooldown_s)
        self.tz = tz
        self.severity = default_severities()
        for event_type, level in (overrides or {}).items():
            if level not in _LEVELS:
                raise ValueError(f"severity for {event_type!r} must be one of {', '.join(_LEVELS)}, got {level!r}")
            self.severity[event_type] = level
        self._last: dict[str, float] = {}

    def severity_of(self, event_type: str) -> str:
        return self.severity.get(event_type, DEFAULT_SEVERITY)

    def decide(self, event: Mapping, evidence_id: str | None, now: float) -> Alert | None:
        """The alert for `event` at wall-clock `now`, or None (severity off, or within the cooldown)."""
        event_type = str(event["type"])
        severity = self.severity_of(event_type)
        if severity == OFF:
            return None
        last = self._last.get(event_type)
        # now < last: the wall clock was set back (NTP after boot); alert rather than stay silent.
        if last is not None and 0 <= now - last < self.cooldown_s:
            return None
        self._last[event_type] = now
        return Alert(severity, event_type, self.text(event_type, severity, evidence_id, now, event.get("score")),
                     self.recipients, evidence_id, now)

    def resolved(self, event: Mapping, evidence_id: str | None, now: float) -> Alert | None:
        """The SMS that says an episode ended (e.g. the camera is back), for a type that alerts at all;
        no cooldown: there is one per episode."""
        event_type = str(event["type"])
        if self.severity_of(event_type) == OFF:
            return None
        text = self.text(event_type, "resolved", evidence_id, now)
        duration = event.get("duration_s")
        if duration is not None:
            text = fit_sms(f"{text} after {float(duration):.0f} s")
        return Alert("resolved", event_type, text, self.recipients, evidence_id, now)

    def text(self, event_type: str, severity: str, evidence_id: str | None, now: float,
             score: float | None = None) -> str:
        """One SMS, most important first: site, severity, event, local time, evidence id, score."""
        stamp = datetime.fromtimestamp(now, self.tz).strftime("%Y-%m-%d %H:%M:%S")
        parts = [self.site_id, severity.upper(), event_type, stamp, f"ev:{evidence_id or '-'}"]
        if score is not None:
            parts.append(f"score {float(score):.2f}")
        return fit_sms(" ".join(parts))


def queue_alert(outbox, alert: Alert) -> list[int]:
    """One outbox message per recipient (hw_io.outbox.Outbox); returns their ids."""
    return [outbox.enqueue(number, alert.text, alert.evidence_id, now=alert.time) for number in alert.recipients]
