"""GSM-7 fitting and the AT driver against FakeModem on a real pty: the happy path and every fault."""

import threading

import pytest

from hw_io.fake_modem import FakeModem
from hw_io.gsm7 import fit_sms, is_gsm7, septets, to_ira
from hw_io.modem import (CmeError, CmsError, GsmModem, LogSender, ModemError, ModemGone, ModemSender,
                         ModemTimeout, NoPrompt, NotRegistered, RecordingSender, SimNotReady, check_number)

NUMBER = "+15550100"
TEXT = "ATM-0001 ATTACK fight 2026-11-24 14:03:07 ev:ab12cd34 score 0.91"


@pytest.fixture
def fake():
    with FakeModem() as fm:
        yield fm


@pytest.fixture
def modem(fake):
    # Generous: an answer ends the wait at once. Tests that need a timeout shorten it.
    with GsmModem(fake.port, timeout=5.0, send_timeout=5.0) as m:
        yield m


# --- GSM-7 ----------------------------------------------------------------------------------
def test_gsm7_alphabet_and_septet_costs():
    assert is_gsm7("Hello @£$ èé ÄÖÑÜ Δ_Ω {x}")
    assert not is_gsm7("á") and not is_gsm7("\u201c") and not is_gsm7("\x1a")
    assert septets("abc") == 3
    assert septets("€") == 2 and septets("[]{}^~|\\") == 16
    with pytest.raises(ValueError):
        septets("日本")


def test_fit_sms_transliterates_what_is_not_gsm7():
    assert fit_sms("Café Zürich") == "Café Zürich"  # é and ü are in the basic table
    assert fit_sms("Ángel á ç ő") == "Angel a c o"
    assert fit_sms("\u201cquoted\u201d \u2018x\u2019 a\u2013b\u2014c \u2026") == '"quoted" \'x\' a-b-c ...'
    assert fit_sms("cost €5") == "cost €5"
    assert fit_sms("日本 ok") == "?? ok"
    # Ctrl-Z would end the modem's text entry early and ESC would abort it.
    assert fit_sms("a\x1ab\x1bc") == "a?b?c"


def test_fit_sms_truncates_to_160_septets_with_ellipsis():
    assert fit_sms("x" * 160) == "x" * 160
    long = fit_sms("ev:1234 " + "y" * 300)
    assert long.startswith("ev:1234 ") and long.endswith("...")
    assert septets(long) == 160
    euros = fit_sms("€" * 100)  # 200 septets: truncation must count 2 per €
    assert euros.endswith("...") and septets(euros) <= 160 and euros.count("€") == 78


def test_to_ira_is_ascii_and_one_for_one():
    wire = to_ira(fit_sms("Café €5 Øre"))
    assert wire == "Cafe ?5 ?re"
    assert all(ord(c) < 128 for c in wire) and len(wire) == len("Café €5 Øre")


def test_check_number():
    assert check_number("+1 555 0100") == "+15550100"
    for bad in ("", "12", "+1555-0100", "call me", "+" + "1" * 21, '+1555"\rATD'):
        with pytest.raises(ValueError):
            check_number(bad)


# --- driver happy path ----------------------------------------------------------------------
def test_setup_and_send_delivers_exact_text(fake, modem):
    modem.setup()
    ref = modem.send_sms(NUMBER, TEXT)
    assert ref == 1
    assert fake.received == [(NUMBER, TEXT)]
    assert fake.commands[:7] == ["AT", "ATE0", "AT+CMEE=1", "AT+CPIN?", "AT+CREG?", "AT+CMGF=1", 'AT+CSCS="IRA"']
    assert modem.send_sms(NUMBER, "second") == 2


def test_unsolicited_codes_are_ignored(fake, modem):
    fake.urc_noise = True  # +CMTI, RING and a "+CREG: 1" URC before every answer
    modem.setup()
    modem.send_sms(NUMBER, TEXT)
    assert fake.received == [(NUMBER, TEXT)]


def test_invalid_number_is_rejected_before_anything_is_written(fake, modem):
    modem.setup()
    before = list(fake.commands)
    with pytest.raises(ValueError):
        modem.send_sms("112; ATD", TEXT)
    assert fake.commands == before


# --- driver faults --------------------------------------------------------------------------
def test_no_network_registration(fake, modem):
    fake.no_network = True
    fake.urc_noise = True  # the "+CREG: 1" URC must not be read as the query's answer
    with pytest.raises(NotRegistered) as exc:
        modem.setup()
    assert exc.value.stat == 2 and exc.value.transient
    assert str(exc.value) == "modem not registered on the network: +CREG stat 2 (searching)"


def test_no_network_at_send_is_cms_331(fake, modem):
    modem.setup()
    fake.no_network = True
    with pytest.raises(CmsError) as exc:
        modem.send_sms(NUMBER, TEXT)
    assert exc.value.code == 331 and exc.value.transient
    assert str(exc.value) == "modem error +CMS ERROR: 331 (no network service)"
    assert fake.received == []


def test_cms_500_then_recovers(fake, modem):
    modem.setup()
    fake.fail_next(1, code=500)
    with pytest.raises(CmsError, match=r"^modem error \+CMS ERROR: 500 \(unknown error\)$") as exc:
        modem.send_sms(NUMBER, TEXT)
    assert exc.value.transient
    assert modem.send_sms(NUMBER, TEXT) >= 1
    assert fake.received == [(NUMBER, TEXT)]


def test_no_prompt_sends_escape(fake, modem):
    modem.setup()
    modem.timeout = 0.3
    fake.no_prompt = True
    with pytest.raises(NoPrompt, match="no '> ' prompt after AT\\+CMGS") as exc:
        modem.send_sms(NUMBER, TEXT)
    assert exc.value.transient and isinstance(exc.value, ModemTimeout)
    assert fake.wait_for(lambda f: f.escapes == 1, timeout=5)
    assert fake.received == []


def test_stall_times_out(fake, modem):
    fake.stall = True
    modem.timeout = 0.3
    with pytest.raises(ModemTimeout, match="no answer to AT within 0.3 s") as exc:
        modem.setup()
    assert not isinstance(exc.value, NoPrompt) and exc.value.transient


def test_sim_errors_say_whether_retrying_helps(fake, modem):
    fake.sim_busy = True
    with pytest.raises(CmeError) as busy:
        modem.setup()
    assert str(busy.value) == "modem error +CME ERROR: 14 (SIM busy)" and busy.value.transient
    fake.sim_busy, fake.sim_absent = False, True
    with pytest.raises(CmeError) as absent:
        modem.setup()
    assert str(absent.value) == "modem error +CME ERROR: 10 (SIM not inserted)" and not absent.value.transient


def test_error_messages_are_one_clear_line():
    assert str(CmeError(11)) == "modem error +CME ERROR: 11 (SIM PIN required)"
    assert str(CmeError(30)) == "modem error +CME ERROR: 30 (no network service)"
    assert str(CmeError(100)) == "modem error +CME ERROR: 100 (unknown)"
    assert str(CmsError(330)) == "modem error +CMS ERROR: 330 (SMSC address unknown)"
    assert not CmsError(330).transient and not CmeError(11).transient and not SimNotReady("SIM PIN").transient
    assert str(CmsError(999)) == "modem error +CMS ERROR: 999 (unlisted code)" and CmsError(999).transient
    assert all("\n" not in str(e) for e in (CmsError(331), NotRegistered(3), SimNotReady("SIM PUK")))


def test_unplug_mid_send_is_modem_gone(fake):
    modem = GsmModem(fake.port, timeout=5.0, send_timeout=10.0).open()
    modem.setup()
    fake.hang_after_prompt = True
    outcome = []

    def send():
        try:
            modem.send_sms(NUMBER, TEXT)
        except ModemError as e:
            outcome.append(e)

    t = threading.Thread(target=send)
    t.start()
    assert fake.wait_for(lambda f: f.attempts == [(NUMBER, TEXT)])
    fake.unplug()  # the text is in, +CMGS never comes, the port vanishes
    t.join(timeout=5)
    modem.close()
    assert len(outcome) == 1 and isinstance(outcome[0], ModemGone), outcome
    assert str(outcome[0]).startswith("modem gone:")
    assert fake.received == []


def test_unplugged_port_cannot_be_opened(fake):
    fake.unplug()
    with pytest.raises(ModemGone, match="^modem gone: cannot open /dev/null/fake-modem-unplugged: "):
        GsmModem(fake.port, timeout=0.3).open()


# --- senders --------------------------------------------------------------------------------
def test_modem_sender_sets_up_lazily_and_after_replug(fake):
    sender = ModemSender(lambda: fake.port, timeout=5.0, send_timeout=5.0)
    assert fake.commands == []  # nothing until the first send
    assert sender.send(NUMBER, "one") == "1"
    fake.unplug()
    fake.replug()  # a new pty path, echo on again: only a fresh open + setup works
    with pytest.raises(ModemGone):
        sender.send(NUMBER, "lost")
    assert sender.send(NUMBER, "two").isdigit()
    sender.close()
    assert fake.received == [(NUMBER, "one"), (NUMBER, "two")]
    assert fake.commands.count("ATE0") == 2


def test_log_and_recording_senders(capsys):
    assert LogSender().send(NUMBER, "hello") == "logged"
    assert "SMS to +15550100: hello" in capsys.readouterr().out
    rec = RecordingSender()
    rec.fail_next(2, CmsError(331))
    for _ in range(2):
        with pytest.raises(CmsError):
            rec.send(NUMBER, "x")
    assert rec.send(NUMBER, "x") == "rec-1" and rec.sent == [(NUMBER, "x")]
