"""Child process for the SIGKILL test: enqueue one alert into an outbox file and try to send it.

usage: outbox_child.py DB PORT NUMBER TEXT
Prints "enqueued <id>" once the row is committed, then pumps once; the test kills it mid-send.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from hw_io.modem import ModemSender  # noqa: E402
from hw_io.outbox import Outbox, OutboxWorker  # noqa: E402


def main(db: str, port: str, number: str, text: str) -> int:
    outbox = Outbox(db)
    msg_id = outbox.enqueue(number, text, event_id="ev-kill")
    print(f"enqueued {msg_id}", flush=True)
    sent = OutboxWorker(outbox, ModemSender(port, timeout=10.0, send_timeout=60.0)).pump()
    print(f"sent {sent}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
