"""The outbox never loses an alert: faults through Outbox + OutboxWorker + ModemSender + FakeModem,
backoff on a fake clock, and a sender process SIGKILLed mid-send."""

import os
import signal
import sqlite3
import subprocess
import sys
import threading

import pytest

from hw_io.fake_modem import FakeModem
from hw_io.modem import CmsError, ModemGone, ModemSender, RecordingSender
from hw_io.outbox import QUEUED, SENDING, SENT, Outbox, OutboxWorker

NUMBER = "+15550100"
TEXT = "ATM-0001 ATTACK fight 2026-11-24 14:03:07 ev:ab12cd34 score 0.91"
HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers", "outbox_child.py")


class Clock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def fake():
    with FakeModem() as fm:
        yield fm


@pytest.fixture
def outbox(tmp_path, clock):
    ob = Outbox(str(tmp_path / "outbox.db"), clock=clock)
    yield ob
    ob.close()


@pytest.fixture
def sender(fake):
    # Generous: an answer ends the wait at once. Faults that need a timeout shorten it.
    s = ModemSender(lambda: fake.port, timeout=5.0, send_timeout=5.0)
    yield s
    s.close()


def test_enqueue_is_committed_before_any_send(outbox, tmp_path):
    msg_id = outbox.enqueue(NUMBER, TEXT, "ev1")
    other = sqlite3.connect(str(tmp_path / "outbox.db"))  # what a crash right now would leave on disk
    try:
        assert other.execute("SELECT state, recipient, text FROM outbox WHERE id = ?", (msg_id,)).fetchone() \
            == (QUEUED, NUMBER, TEXT)
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        other.close()
    assert outbox.pending_count() == 1


def test_happy_path_sends_once(outbox, sender, fake, clock):
    msg_id = outbox.enqueue(NUMBER, TEXT, "ev1")
    worker = OutboxWorker(outbox, sender, clock)
    assert worker.pump() == 1
    msg = outbox.get(msg_id)
    assert (msg.state, msg.attempts, msg.ref, msg.sent_at) == (SENT, 1, "1", clock.t)
    clock.t += 1000
    assert worker.pump() == 0
    assert fake.received == [(NUMBER, TEXT)]
    assert outbox.stats()[SENT] == 1 and outbox.pending_count() == 0


# fault name -> (set it, clear it, what last_error says, seconds until the retry is due, ends in a timeout)
FAULTS = {
    "no_network_at_send": (lambda f: setattr(f, "no_network", True), None, "+CMS ERROR: 331", 5, False),
    "cms_500": (lambda f: f.fail_next(1, 500), None, "+CMS ERROR: 500 (unknown error)", 5, False),
    "no_prompt": (lambda f: setattr(f, "no_prompt", True), None, "no '> ' prompt", 5, True),
    "stall": (lambda f: setattr(f, "stall", True), None, "modem timeout", 5, True),
    "no_answer_after_text": (lambda f: setattr(f, "hang_after_prompt", True), None, "no +CMGS answer", 5, True),
    "unplugged": (lambda f: f.unplug(), lambda f: f.replug(), "modem gone", 5, False),
    "sim_busy_at_setup": (lambda f: setattr(f, "sim_busy", True), None, "+CME ERROR: 14 (SIM busy)", 5, False),
    "no_network_at_setup": (lambda f: setattr(f, "no_network", True), None, "not registered", 5, False),
    "sim_absent_at_setup": (lambda f: setattr(f, "sim_absent", True), None, "+CME ERROR: 10", 300, False),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_keeps_the_alert_and_sends_it_once_after_recovery(fault, outbox, sender, fake, clock):
    inject, clear, error, backoff, times_out = FAULTS[fault]
    if not fault.endswith("_at_setup"):
        assert sender.send(NUMBER, "warm-up") == "1"  # the port is open and set up when the fault hits
    inject(fake)
    if times_out:
        sender.timeout = sender.send_timeout = 0.3
    msg_id = outbox.enqueue(NUMBER, TEXT, "ev1")
    worker = OutboxWorker(outbox, sender, clock)

    assert worker.pump() == 0
    msg = outbox.get(msg_id)
    assert (msg.state, msg.attempts) == (QUEUED, 1)
    assert error in msg.last_error
    assert msg.next_try_at == clock.t + backoff

    # Not retried before its backoff: the modem sees nothing new.
    commands = len(fake.commands)
    clock.t += backoff - 1
    assert worker.pump() == 0 and len(fake.commands) == commands

    (clear or (lambda f: f.clear_faults()))(fake)
    sender.timeout = sender.send_timeout = 5.0
    clock.t += 1
    assert worker.pump() == 1
    msg = outbox.get(msg_id)
    assert (msg.state, msg.attempts, msg.last_error) == (SENT, 2, None)
    clock.t += 10_000
    assert worker.pump() == 0
    assert fake.received.count((NUMBER, TEXT)) == 1


def test_unplug_then_replug_with_queued_alerts(outbox, sender, fake, clock):
    worker = OutboxWorker(outbox, sender, clock)
    first = outbox.enqueue(NUMBER, "first", "ev1")
    assert worker.pump() == 1
    fake.unplug()
    second = outbox.enqueue(NUMBER, "second", "ev2")
    third = outbox.enqueue(NUMBER, "third", "ev3")
    assert worker.pump() == 0
    # The modem is gone: the round stops at the first failure instead of timing out on each message.
    assert outbox.get(second).attempts == 1 and outbox.get(third).attempts == 0
    clock.t += 5
    assert worker.pump() == 0  # still unplugged: the port cannot even be opened
    fake.replug()
    clock.t += 10
    assert worker.pump() == 2
    assert [outbox.get(i).state for i in (first, second, third)] == [SENT] * 3
    assert fake.received == [(NUMBER, "first"), (NUMBER, "second"), (NUMBER, "third")]


def test_backoff_grows_to_the_cap_and_permanent_errors_wait_longest(outbox, clock):
    rec = RecordingSender()
    worker = OutboxWorker(outbox, rec, clock)
    msg_id = outbox.enqueue(NUMBER, TEXT)
    rec.fail_next(8, CmsError(500))
    delays = []
    for _ in range(8):
        assert worker.pump() == 0
        delays.append(outbox.get(msg_id).next_try_at - clock.t)
        clock.t = outbox.get(msg_id).next_try_at
    assert delays == [5, 10, 20, 40, 80, 160, 300, 300]
    assert worker.pump() == 1 and rec.sent == [(NUMBER, TEXT)]

    other = outbox.enqueue(NUMBER, "x")
    rec.fail_next(1, CmsError(330))  # SMSC address unknown: needs a person
    worker.pump()
    assert outbox.get(other).next_try_at == clock.t + 300


def test_message_failure_does_not_block_the_others_and_nothing_is_dropped(outbox, clock):
    worker = OutboxWorker(outbox, RecordingSender(), clock)
    bad = outbox.enqueue("not-a-number", "x")
    good = outbox.enqueue(NUMBER, "y")
    assert worker.pump() == 1  # ValueError is logged, never raised
    assert outbox.get(good).state == SENT
    msg = outbox.get(bad)
    assert msg.state == QUEUED and "not a phone number" in msg.last_error and msg.next_try_at == clock.t + 300


def test_modem_wide_failure_stops_the_round_but_cms_error_does_not(outbox, clock):
    rec = RecordingSender()
    worker = OutboxWorker(outbox, rec, clock)
    a, b = outbox.enqueue(NUMBER, "a"), outbox.enqueue(NUMBER, "b")
    rec.fail_next(1, ModemGone("modem gone: test"))
    assert worker.pump() == 0 and outbox.get(b).attempts == 0
    clock.t += 5
    rec.fail_next(1, CmsError(500))
    assert worker.pump() == 1  # a failed, b went out
    assert (outbox.get(a).state, outbox.get(b).state) == (QUEUED, SENT)


def test_rows_left_sending_are_requeued_on_open_unless_their_process_lives(tmp_path, clock):
    path = str(tmp_path / "outbox.db")
    ob = Outbox(path, clock=clock)
    mine, theirs = ob.enqueue(NUMBER, "mine"), ob.enqueue(NUMBER, "theirs")
    assert ob.mark_sending(mine) and ob.mark_sending(theirs)
    assert not ob.mark_sending(mine)  # already claimed
    ob.close()
    db = sqlite3.connect(path)
    db.execute("UPDATE outbox SET claimed_by = ? WHERE id = ?", (os.getppid(), theirs))  # alive, not us
    db.commit()
    db.close()
    ob = Outbox(path, clock=clock)
    assert ob.get(mine).state == QUEUED and ob.get(theirs).state == SENDING
    assert [m.id for m in ob.due()] == [mine]
    clock.t += ob.lease_s  # a live process that holds a row this long has hung
    assert [m.id for m in ob.due()] == [mine, theirs]
    ob.close()


def test_two_workers_on_one_file_never_send_a_message_twice(tmp_path, clock):
    path = str(tmp_path / "outbox.db")
    boxes = [Outbox(path, clock=clock), Outbox(path, clock=clock)]
    ids = [boxes[0].enqueue(NUMBER, f"m{i}") for i in range(30)]
    senders = [RecordingSender(), RecordingSender()]
    threads = [threading.Thread(target=OutboxWorker(b, s, clock).pump) for b, s in zip(boxes, senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    texts = [text for s in senders for _, text in s.sent]
    assert sorted(texts) == sorted(f"m{i}" for i in range(30))
    assert all(boxes[1].get(i).state == SENT for i in ids)
    for b in boxes:
        b.close()


def test_background_worker_sends_without_pump_calls(tmp_path, sender, fake):
    ob = Outbox(str(tmp_path / "outbox.db"))
    worker = OutboxWorker(ob, sender).start(interval_s=0.05)
    try:
        msg_id = ob.enqueue(NUMBER, TEXT)
        worker.wake()
        assert fake.wait_for(lambda f: f.received == [(NUMBER, TEXT)], timeout=5)
    finally:
        worker.stop(timeout=5)
    assert ob.get(msg_id).state == SENT
    ob.close()


def test_sender_killed_mid_send_is_resent_after_restart(tmp_path, fake):
    db = str(tmp_path / "outbox.db")
    fake.hang_after_prompt = True  # the child gets stuck waiting for +CMGS
    child = subprocess.Popen([sys.executable, HELPER, db, fake.port, NUMBER, TEXT],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line.startswith("enqueued "), child.stderr.read()
        msg_id = int(line.split()[1])
        assert fake.wait_for(lambda f: (NUMBER, TEXT) in f.attempts, timeout=15), "child never submitted the text"
        ob = Outbox(db)  # the child is alive: its row must stay claimed
        assert ob.get(msg_id).state == SENDING
        ob.close()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert fake.received == []

    fake.hang_after_prompt = False  # the "restarted" service
    ob = Outbox(db)
    try:
        assert ob.get(msg_id).state == QUEUED
        sender = ModemSender(fake.port, timeout=5.0, send_timeout=5.0)
        assert OutboxWorker(ob, sender).pump() == 1
        sender.close()
        msg = ob.get(msg_id)
        assert (msg.state, msg.attempts, msg.event_id) == (SENT, 2, "ev-kill")
    finally:
        ob.close()
    assert fake.received == [(NUMBER, TEXT)]
