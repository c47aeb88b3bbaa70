"""AtmStateReader over TCP, a Unix socket, a serial pty and a file; FixedState."""

import os
import socket

import pytest

from hw_io.atm_state import KNOWN_STATES, AtmStateReader, FixedState, parse_source

FAST = {"backoff_s": (0.02, 0.1), "poll_s": 0.05, "connect_timeout_s": 1.0}


class Server:
    """A listening socket whose accepted connections the test drives one at a time."""

    def __init__(self, family=socket.AF_INET, address=("127.0.0.1", 0)):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(address)
        self.sock.listen(4)
        self.sock.settimeout(3)
        self.address = self.sock.getsockname()

    def accept(self):
        conn, _ = self.sock.accept()
        return conn

    def close(self):
        self.sock.close()


class Recorder(list):
    def __call__(self, old, new):
        self.append((old, new))


def test_tcp_lines_change_state_and_unknown_states_are_ignored(caplog):
    server = Server()
    changes = Recorder()
    host, port = server.address
    with AtmStateReader(f"tcp:{host}:{port}", on_change=changes, **FAST) as reader:
        conn = server.accept()
        conn.sendall(b"  IDLE \r\n\n\ncard_")  # split mid-line: the rest arrives in the next packet
        assert reader.wait_for("idle", 2)
        conn.sendall(b"inserted\nself_destruct\npin_entry\n")
        assert reader.wait_for("pin_entry", 2)
        assert reader.current == "pin_entry" and reader.connected
    conn.close()
    server.close()
    assert changes[:3] == [("unknown", "idle"), ("idle", "card_inserted"), ("card_inserted", "pin_entry")]
    assert "self_destruct" in caplog.text
    assert all(new in KNOWN_STATES | {"unknown"} for _, new in changes)


def test_link_drop_then_reconnect():
    server = Server()
    changes = Recorder()
    host, port = server.address
    with AtmStateReader(f"tcp:{host}:{port}", on_change=changes, **FAST) as reader:
        conn = server.accept()
        conn.sendall(b"maintenance\n")
        assert reader.wait_for("maintenance", 2)
        conn.close()  # the ATM reboots
        # A stale "maintenance" must not outlive the link.
        assert reader.wait_for(lambda r: not r.connected and r.current == "unknown", 2)
        conn = server.accept()  # the reader comes back by itself
        conn.sendall(b"idle\n")
        assert reader.wait_for("idle", 2)
        assert reader.connections == 2
    conn.close()  # only after stop(), or the reader could see this drop first
    server.close()
    assert changes == [("unknown", "maintenance"), ("maintenance", "unknown"), ("unknown", "idle")]


def test_reader_keeps_retrying_until_the_atm_listens(tmp_path):
    path = str(tmp_path / "atm.sock")
    with AtmStateReader(f"unix:{path}", **FAST) as reader:
        assert not reader.wait_for(lambda r: r.connected, 0.15)  # nothing there yet: backing off
        server = Server(socket.AF_UNIX, path)
        conn = server.accept()
        conn.sendall(b"dispensing\n")
        assert reader.wait_for("dispensing", 2)
    conn.close()
    server.close()


def test_serial_pty():
    master, slave = os.openpty()
    path = os.ttyname(slave)
    changes = Recorder()
    try:
        with AtmStateReader(f"serial:{path}@9600", on_change=changes, **FAST) as reader:
            assert reader.wait_for(lambda r: r.connected, 2)
            os.write(master, b"card_inserted\r\nnonsense\r\n")
            assert reader.wait_for("card_inserted", 2)
            os.write(master, b"DISPENSING\n")
            assert reader.wait_for("dispensing", 2)
    finally:
        os.close(master)
        os.close(slave)
    assert changes == [("unknown", "card_inserted"), ("card_inserted", "dispensing")]


def test_file_replay_and_extra_states(tmp_path):
    path = tmp_path / "atm.log"
    path.write_bytes(b"idle\nvault_open\ncard_inserted\n")
    changes = Recorder()
    with AtmStateReader(f"file:{path}", on_change=changes, extra_states=["Vault_Open"], **FAST) as reader:
        assert reader.wait_for(lambda r: not r.connected and r.connections == 1, 2)
        assert reader.current == "card_inserted"
    assert changes == [("unknown", "idle"), ("idle", "vault_open"), ("vault_open", "card_inserted")]


def test_a_failing_callback_does_not_kill_the_reader(tmp_path):
    path = tmp_path / "atm.log"
    path.write_bytes(b"idle\npin_entry\n")

    def boom(old, new):
        raise RuntimeError("callback bug")

    with AtmStateReader(f"file:{path}", on_change=boom, **FAST) as reader:
        assert reader.wait_for("pin_entry", 2)


@pytest.mark.parametrize("source, expected", [
    ("serial:/dev/ttyUSB1", ("serial", ("/dev/ttyUSB1", 9600))),
    ("serial:/dev/ttyUSB1@115200", ("serial", ("/dev/ttyUSB1", 115200))),
    ("tcp:atm.local:7000", ("tcp", ("atm.local", 7000))),
    ("tcp:[::1]:7000", ("tcp", ("::1", 7000))),
    ("unix:/run/atm.sock", ("unix", ("/run/atm.sock",))),
])
def test_parse_source(source, expected):
    assert parse_source(source) == expected


@pytest.mark.parametrize("source", ["/dev/ttyUSB1", "tcp:atm.local", "ftp:x", "serial:"])
def test_bad_sources_are_refused(source):
    with pytest.raises(ValueError):
        AtmStateReader(source)


def test_fixed_state():
    changes = Recorder()
    s = FixedState("idle", on_change=changes).start()
    assert s.current == "idle"
    s.set("idle")
    s.set("maintenance")
    assert s.current == "maintenance" and changes == [("idle", "maintenance")]
    s.stop()
