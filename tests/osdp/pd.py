#!/usr/bin/env python3
"""An OSDP reader (Peripheral Device) for Monban's integration tests, on the independent
libosdp Python package (PyPI `libosdp`, imported as `osdp`).

One process can host several PDs on one bus (multi-drop): every byte read from the tty is
given to each PD, and each PD answers only to its own address.

    python3 pd.py --tty /dev/pts/N --pd ADDR:KEY[:KEYFILE] [--pd …]

KEY is 32 hex digits, or `install` for a reader in install mode (no key: accepts SCBK-D once).
KEYFILE, if given, receives the new key (hex) when the control panel sends KEYSET.

Commands, one JSON object per line on stdin:
  {"op": "card", "addr": 1, "data": "0114…", "bits": 64, "format": "raw"|"wiegand"}
  {"op": "keys", "addr": 1, "keys": "1234#"}
  {"op": "tamper", "addr": 1, "on": true}
  {"op": "flood", "addr": 1, "n": 200, "data": "…", "bits": 64}
  {"op": "bench", "addr": 1, "n": 50, "data": "…", "bits": 64}  (card → LED latency)
Reports, one JSON object per line on stdout: ready, sc, online, led, buzzer, keyset, bench.
The tty is read without blocking (the fd is O_NONBLOCK), as libosdp requires.
"""

import argparse
import json
import os
import queue
import sys
import termios
import threading
import time
import tty

import osdp
from osdp import (Capability, CardFormat, Event, LibFlag, LogLevel, PDCapabilities, PDInfo,
                  PeripheralDevice, StatusReportType)


def out(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


class BusTap(osdp.Channel):
    """One PD's view of the shared tty: its own copy of every byte received."""

    def __init__(self, fd):
        super().__init__()
        self.fd = fd
        self.buf = bytearray()

    def read(self, max_bytes):
        n = min(max_bytes, len(self.buf))
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def write(self, buf):
        try:
            return os.write(self.fd, bytes(buf))
        except (BlockingIOError, OSError):
            return 0

    def flush(self):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tty", required=True)
    ap.add_argument("--pd", action="append", required=True)
    ap.add_argument("--debug", action="store_true")
    args = ap.parse_args()

    fd = os.open(args.tty, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)
    # A reader powering up hears only live traffic, not what queued while it was off.
    termios.tcflush(fd, termios.TCIFLUSH)
    cap = PDCapabilities([
        (Capability.CommunicationSecurity, 1, 1),
        (Capability.LEDControl, 1, 1),
        (Capability.AudibleControl, 1, 1),
        (Capability.CardDataFormat, 1, 1),
        (Capability.Readers, 1, 1),
    ])
    pds = {}
    taps = []
    pending_bench = {}
    for spec in args.pd:
        parts = spec.split(":")
        addr = int(parts[0])
        key = None if parts[1] == "install" else bytes.fromhex(parts[1])
        keyfile = parts[2] if len(parts) > 2 else None
        tap = BusTap(fd)
        taps.append(tap)

        def handler(cmd, addr=addr, keyfile=keyfile):
            kind = cmd.get("command")
            d = {k: (v.hex() if isinstance(v, (bytes, bytearray)) else v)
                 for k, v in cmd.items()}
            now = time.monotonic()
            if kind == osdp.Command.LED:
                out(ev="led", addr=addr, color=cmd.get("on_color"),
                    temporary=cmd.get("temporary"), t=now)
                t0 = pending_bench.pop(addr, None)
                if t0 is not None:
                    out(ev="bench", addr=addr, ms=(now - t0) * 1000.0, color=cmd.get("on_color"))
            elif kind == osdp.Command.Buzzer:
                out(ev="buzzer", addr=addr, reps=cmd.get("rep_count"), t=now)
            elif kind == osdp.Command.Keyset:
                if keyfile:
                    with open(keyfile, "w") as f:
                        f.write(d.get("data", ""))
                out(ev="keyset", addr=addr)
            else:
                out(ev="command", addr=addr, cmd=d)
            return 0, None

        flags = [LibFlag.EnforceSecure] if key else []
        info = PDInfo(addr, tap, scbk=key, name=f"pd-{addr}", flags=flags)
        level = LogLevel.Debug if args.debug else LogLevel.Error
        pds[addr] = PeripheralDevice(info, cap, log_level=level, command_handler=handler)

    cmds = queue.Queue()

    def stdin_reader():
        for line in sys.stdin:
            line = line.strip()
            if line:
                try:
                    cmds.put(json.loads(line))
                except ValueError:
                    out(ev="error", msg="bad json")
        cmds.put({"op": "eof"})

    threading.Thread(target=stdin_reader, daemon=True).start()

    def card_event(c):
        fmt = CardFormat.Wiegand if c.get("format") == "wiegand" else CardFormat.Unspecified
        data = bytes.fromhex(c["data"])
        return {"event": Event.CardRead, "reader_no": 0, "direction": 0, "format": fmt,
                "length": int(c.get("bits", len(data) * 8)), "data": data}

    state = {a: (None, None) for a in pds}
    out(ev="ready")
    bench = None
    while True:
        try:
            data = os.read(fd, 4096)
        except (BlockingIOError, OSError):
            data = b""
        if data:
            for t in taps:
                t.buf += data
        for pd in pds.values():
            pd.ctx.refresh()
        for a, pd in pds.items():
            s = (pd.ctx.is_online(), pd.ctx.is_sc_active())
            if s != state[a]:
                state[a] = s
                out(ev="sc", addr=a, online=s[0], active=s[1])
        if bench and bench["addr"] not in pending_bench and time.monotonic() >= bench["next"]:
            if bench["n"] == 0:
                out(ev="bench_done", addr=bench["addr"])
                bench = None
            else:
                bench["n"] -= 1
                pending_bench[bench["addr"]] = time.monotonic()
                pds[bench["addr"]].ctx.submit_event(card_event(bench["card"]))
                bench["next"] = time.monotonic() + 0.25
        while True:
            try:
                c = cmds.get_nowait()
            except queue.Empty:
                break
            op = c.get("op")
            if op == "eof":
                return
            pd = pds.get(c.get("addr"))
            if pd is None:
                continue
            if op == "card":
                pd.ctx.submit_event(card_event(c))
            elif op == "keys":
                for k in c["keys"].encode():
                    pd.ctx.submit_event({"event": Event.KeyPress, "reader_no": 0,
                                         "data": bytes([k])})
            elif op == "tamper":
                pd.ctx.submit_event({"event": Event.Status, "type": StatusReportType.Local,
                                     "nr_entries": 2,
                                     "report": bytes([1 if c.get("on") else 0, 0])})
            elif op == "flood":
                for _ in range(int(c["n"])):
                    pd.ctx.submit_event(card_event(c))
            elif op == "bench":
                bench = {"addr": c["addr"], "n": int(c["n"]), "card": c, "next": 0}
        time.sleep(0.001)


if __name__ == "__main__":
    main()
