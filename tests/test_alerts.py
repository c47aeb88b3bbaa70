"""Alert policy: severity per event type, cooldown per type, SMS text, overrides."""

from datetime import datetime, timezone

import pytest

from core.events import default_severities, event_types
from hw_io.gsm7 import is_gsm7, septets
from hw_io.modem import RecordingSender
from hw_io.outbox import SENT, Outbox, OutboxWorker
from pipeline.alerts import ATTACK, WARNING, AlertPolicy, queue_alert
from pipeline.config import Config  # noqa: F401  (builds the registries: the detectors are registered)

NOW = datetime(2026, 11, 24, 14, 3, 7, tzinfo=timezone.utc).timestamp()
RECIPIENTS = ["+15550100", "+15550101"]


def event(kind: str, score: float = 0.91) -> dict:
    return {"type": kind, "frame": 120, "time_s": 4.0, "bbox": [1, 2, 3, 4], "score": score,
            "stage": "classical", "state": "confirmed"}


def policy(**kw) -> AlertPolicy:
    kw.setdefault("tz", timezone.utc)
    return AlertPolicy("ATM-0001", kw.pop("recipients", RECIPIENTS), **kw)


def test_every_event_type_the_project_writes_has_a_severity():
    severities = default_severities()
    assert {"fight", "crowding", "camera_covered", "camera_offline"} <= set(event_types()) == set(severities)
    assert set(severities.values()) <= {ATTACK, WARNING}


@pytest.mark.parametrize("kind", ["fight", "camera_covered", "camera_moved", "camera_offline", "camera_defocused"])
def test_attack_types(kind):
    assert policy().decide(event(kind), "ab12cd34", NOW).severity == ATTACK


@pytest.mark.parametrize("kind", ["crowding", "face_covered", "loitering", "left_object", "anomaly"])
def test_warning_types(kind):
    assert policy().decide(event(kind), "ab12cd34", NOW).severity == WARNING


def test_unknown_type_still_alerts_as_warning():
    assert policy().decide(event("something_new"), None, NOW).severity == WARNING


def test_cooldown_is_per_event_type():
    p = policy(cooldown_s=60)
    assert p.decide(event("fight"), "a", NOW) is not None
    assert p.decide(event("fight"), "b", NOW + 30) is None
    assert p.decide(event("crowding"), "c", NOW + 30) is not None  # another type is not held back
    assert p.decide(event("fight"), "d", NOW + 59.9) is None
    assert p.decide(event("fight"), "e", NOW + 60) is not None
    assert p.decide(event("crowding"), "f", NOW + 60) is None


def test_clock_set_back_does_not_silence_alerts():
    p = policy(cooldown_s=60)
    assert p.decide(event("fight"), "a", NOW) is not None
    assert p.decide(event("fight"), "b", NOW - 3600) is not None


def test_text_has_the_important_parts_first_and_fits_one_sms():
    alert = policy().decide(event("fight"), "ab12cd34", NOW)
    assert alert.text == "ATM-0001 ATTACK fight 2026-11-24 14:03:07 ev:ab12cd34 score 0.91"
    assert alert.event_type == "fight" and alert.recipients == tuple(RECIPIENTS)
    assert alert.evidence_id == "ab12cd34"

    long_site = AlertPolicy("ATM-0001 Main Street branch, lobby " * 6, RECIPIENTS, tz=timezone.utc)
    text = long_site.decide(event("camera_covered"), "ab12cd34", NOW).text
    assert is_gsm7(text) and septets(text) <= 160 and text.endswith("...")


def test_text_without_evidence_or_score():
    e = event("loitering")
    del e["score"]
    assert policy().decide(e, None, NOW).text == "ATM-0001 WARNING loitering 2026-11-24 14:03:07 ev:-"


def test_site_id_is_transliterated_to_gsm7():
    text = AlertPolicy("Bankomat Łódź", [], tz=timezone.utc).decide(event("fight"), "x1", NOW).text
    assert text.startswith("Bankomat ?odz ATTACK fight") and is_gsm7(text)


def test_overrides():
    p = policy(overrides={"loitering": "attack", "fight": "warning", "anomaly": "off"})
    assert p.decide(event("loitering"), "a", NOW).severity == ATTACK
    assert p.decide(event("fight"), "a", NOW).severity == WARNING
    assert p.decide(event("anomaly"), "a", NOW) is None
    assert p.decide(event("camera_moved"), "a", NOW).severity == ATTACK  # untouched types keep the default
    assert default_severities()["fight"] == ATTACK  # the registry's default is not modified
    with pytest.raises(ValueError, match="loitering"):
        policy(overrides={"loitering": "critical"})


def test_no_recipients_still_returns_the_alert():
    alert = policy(recipients=[]).decide(event("fight"), "ev9", NOW)
    assert alert is not None and alert.recipients == () and alert.severity == ATTACK


def test_bad_recipient_is_a_config_error():
    with pytest.raises(ValueError, match="not a phone number"):
        policy(recipients=["+15550100", "guard"])


def test_queue_alert_puts_one_message_per_recipient_in_the_outbox(tmp_path):
    alert = policy().decide(event("fight"), "ab12cd34", NOW)
    ob = Outbox(str(tmp_path / "outbox.db"))
    ids = queue_alert(ob, alert)
    rec = RecordingSender()
    assert OutboxWorker(ob, rec).pump(now=NOW) == 2
    assert rec.sent == [(n, alert.text) for n in RECIPIENTS]
    assert [ob.get(i).state for i in ids] == [SENT, SENT] and ob.get(ids[0]).event_id == "ab12cd34"
    ob.close()
