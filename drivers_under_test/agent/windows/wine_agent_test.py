#!/usr/bin/env python3
"""readerlab-agent.exe under wine64, driven through its real serial port.

A pty pair stands in for the guest's COM1: the prefix's registry maps COM1 to the pty's slave
(HKLM\Software\Wine\Ports; Wine's mount manager rewrites dosdevices/com1 from it when a
session starts, so a plain symlink would be replaced by /dev/ttyS0), the agent opens COM1
(Wine's serial layer sets it up with SetCommState/SetCommTimeouts), and this script speaks
PROTOCOL.md on the master. Every check fails the test with a message.

With --service it tests the service mode instead (run_service_test): the agent installed with
`sc create` the way install-agent.ps1 installs it, started and stopped by Wine's service
control manager.

What Wine cannot run: no smart card reader device interface exists under Wine (no PnP
driver binds anything to GUID_DEVINTERFACE_SMARTCARD_READER), so Ioctl/State can only be
checked for their "no reader" error; a reader driver's IOCTLs need a Windows guest. Wine's
winscard.dll is checked for what it answers, whatever that is, in the documented shape.
"""
import argparse
import json
import os
import select
import shutil
import subprocess
import sys
import time
import tty

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL:", message, flush=True)
    return condition


def wineserver_of(wine):
    beside = os.path.join(os.path.dirname(os.path.realpath(wine)), "wineserver")
    return beside if os.path.exists(beside) else shutil.which("wineserver") or "wineserver"


class Agent:
    def __init__(self, wine, exe, prefix, port_args, log_name):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        # COM2: a second serial port whose IOCTLs stand in for a reader's (see run_ioctl_path).
        self.com2_master, self.com2_slave = os.openpty()
        tty.setraw(self.com2_slave)
        env = dict(os.environ, WINEPREFIX=prefix, WINEDEBUG="-all")
        quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        for name, fd in (("COM1", self.slave), ("COM2", self.com2_slave)):
            subprocess.run([wine, "reg", "add", "HKLM\\Software\\Wine\\Ports", "/v", name, "/d", os.ttyname(fd), "/f"],
                           env=env, check=True, **quiet)
        subprocess.run([wineserver_of(wine), "-k"], env=env, check=False, **quiet)  # next session: new mapping
        subprocess.run([wineserver_of(wine), "-w"], env=env, check=False, **quiet)
        # A wineserver of our own, so the agent's log does not receive the server's output.
        subprocess.run([wineserver_of(wine), "-p3"], env=env, check=False, **quiet)
        self.log_path = os.path.join(prefix, log_name)
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen([wine, exe] + port_args, env=env, stdout=self.log, stderr=self.log,
                                        stdin=subprocess.DEVNULL)
        self.buffer = b""
        self.next_id = 1

    def write(self, data):
        view = memoryview(data)
        while view:
            _, writable, _ = select.select([self.master], [self.master], [], 5)
            if self.master in writable:
                n = os.write(self.master, view[:4096])
                view = view[n:]
            else:
                # the agent reads while we write; read what it answered meanwhile
                self._fill(0.05)

    def _fill(self, timeout):
        readable, _, _ = select.select([self.master], [], [], timeout)
        if readable:
            self.buffer += os.read(self.master, 65536)

    def line(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or self.process.poll() is not None:
                return None
            self._fill(min(left, 0.2))
        text, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(text)

    def call(self, call, timeout=20.0, **fields):
        request = dict(fields, id=self.next_id, call=call)
        self.next_id += 1
        self.write((json.dumps(request) + "\n").encode())
        reply = self.line(timeout)
        check(reply is not None, f"{call}: no reply within {timeout} s")
        if reply is not None:
            check(reply.get("id") == request["id"], f"{call}: reply id {reply.get('id')} != {request['id']}")
        return reply or {}

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for fd in (self.master, self.slave, self.com2_master, self.com2_slave):
            os.close(fd)
        self.log.close()
        with open(self.log_path, "rb") as f:
            text = f.read().decode(errors="replace").strip()
        print(f"agent's stderr ({os.path.basename(self.log_path)}):", text if text else "(empty)")


def command_lines():
    """(pid, command line) of every process, as /proc shows it (Wine: the Windows command line)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                yield int(entry), f.read().replace(b"\0", b" ")
        except OSError:
            continue


def ping_processes():
    # Wine shows a process's Windows command line: "ping -n 61 ..." and "...cmd.exe /c ping ..."
    lowered = (words.lower() for _, words in command_lines())
    return [words.split(b" ")[0].decode(errors="replace").rsplit("\\", 1)[-1]
            for words in lowered if b"-n 61 127.0.0.1" in words]


def expect_error(agent, raw, wanted, name):
    agent.write(raw)
    reply = agent.line()
    check(reply == {"id": None, "rv": None, "error": wanted}, f"{name}: got {reply}")


# PC/SC return codes Wine's winscard.dll may plausibly answer, by name (winerror.h).
PCSC_NAMES = {
    0x00000000: "SCARD_S_SUCCESS",
    0x80100001: "SCARD_F_INTERNAL_ERROR",
    0x80100006: "SCARD_E_NO_MEMORY",
    0x8010001D: "SCARD_E_NO_SERVICE",
    0x8010001E: "SCARD_E_SERVICE_STOPPED",
    0x8010002E: "SCARD_E_NO_READERS_AVAILABLE",
}


def run_main(agent):
    started = time.monotonic()
    ready = agent.line(timeout=30)
    print("ready:", ready, f"({time.monotonic() - started:.1f} s after start)")
    check(ready == {"event": "ready", "agent": "readerlab-agent", "version": "0.1", "api": "winscard"},
          f"ready event: {ready}")

    expect_error(agent, b"this is not json\n", "malformed JSON", "malformed JSON")
    expect_error(agent, b"[1,2,3]\n", "request must be a JSON object", "non-object")
    expect_error(agent, b'{"call":"ListDevices"}\n', "request needs an integer 'id'", "missing id")
    t = time.monotonic()
    expect_error(agent, b"x" * ((1 << 20) + 100) + b"\n", "line longer than 1 MiB", "over-long line")
    print(f"over-long line answered in {time.monotonic() - t:.1f} s")
    reply = agent.call("NoSuchCall")
    check(reply.get("error") == "unknown call 'NoSuchCall'", f"unknown call: {reply}")

    reply = agent.call("Exec", command="echo hello-from-wine", timeout_ms=20000)
    print("Exec echo:", reply)
    check(reply.get("rv") == 0 and reply.get("exit_code") == 0 and "hello-from-wine" in reply.get("output", ""),
          f"Exec echo: {reply}")
    check("timed_out" not in reply, f"Exec echo timed out: {reply}")
    reply = agent.call("Exec", command="exit 7", timeout_ms=20000)
    check(reply.get("exit_code") == 7, f"Exec exit 7: {reply}")
    reply = agent.call("Exec", command="echo to-stderr 1>&2", timeout_ms=20000)
    check("to-stderr" in reply.get("output", ""), f"Exec stderr captured: {reply}")
    reply = agent.call("Exec")
    check(reply == {"id": reply.get("id"), "rv": None, "error": "missing field 'command'"}, f"Exec without command: {reply}")

    # cmd.exe starts ping.exe: the job object must kill the grandchild too. Wine runs each
    # Windows process as a Linux process, so /proc shows whether ping.exe is alive.
    t = time.monotonic()
    request = {"id": 1000, "call": "Exec", "command": "ping -n 61 127.0.0.1", "timeout_ms": 2500}
    agent.write((json.dumps(request) + "\n").encode())
    time.sleep(1.5)
    during = ping_processes()
    reply = agent.line(timeout=20) or {}
    elapsed = time.monotonic() - t
    time.sleep(0.5)
    after = ping_processes()
    print(f"Exec ping with timeout_ms 2500: {elapsed:.1f} s, processes during {during}, after {after}, "
          f"reply {dict((k, v) for k, v in reply.items() if k != 'output')}")
    check(reply.get("id") == 1000 and reply.get("timed_out") is True, f"Exec past timeout_ms: {reply}")
    check(elapsed < 8, f"Exec past timeout_ms took {elapsed:.1f} s")
    check("ping" in during, f"ping was not running while the Exec waited (the test proves nothing): {during}")
    check(len(after) == 0, f"processes outlived the job object kill: {after}")

    reply = agent.call("ListDevices")
    print("ListDevices:", reply)
    check(reply.get("rv") == 0 and reply.get("devices") == [], f"ListDevices under Wine: {reply}")
    reply = agent.call("Ioctl", code=0x310038, output_size=4)
    print("Ioctl:", reply)
    check(reply.get("rv", 0) is None and "no smart card reader device interface" in reply.get("error", ""),
          f"Ioctl without reader: {reply}")
    reply = agent.call("State")
    check(reply.get("rv", 0) is None and "no smart card reader device interface" in reply.get("error", ""),
          f"State without reader: {reply}")
    for call, fields, wanted in [
        ("Ioctl", {}, "missing field 'code'"),
        ("Ioctl", {"code": -1}, "field 'code' must be an unsigned 32-bit integer"),
        ("Ioctl", {"code": 0x310038, "input": 5}, "field 'input' must be a hex string"),
        ("Ioctl", {"code": 0x310038, "output_size": 1 << 21}, "field 'output_size' is above 1 MiB"),
        ("Ioctl", {"code": 0x310038, "device": -3}, "field 'device' must be an interface path or a non-negative index"),
        ("WaitPending", {}, "WaitPending: no IRP is pending"),
        ("CancelPending", {}, "CancelPending: no IRP is pending"),
    ]:
        reply = agent.call(call, **fields)
        check(reply.get("rv", 0) is None and reply.get("error") == wanted, f"{call} {fields}: {reply}")
    reply = agent.call("Ioctl", code=0x310038, input="0g")
    check(reply.get("rv", 0) is None and reply.get("error", "").startswith("field 'input': "), f"Ioctl bad hex: {reply}")
    reply = agent.call("Ioctl", code=0x310038, device="\\\\?\\no#such#reader")
    print("Ioctl on a named path:", reply)
    check(reply.get("rv", 0) is None and reply.get("error", "").startswith("opening \\\\?\\no#such#reader: "),
          f"Ioctl on a missing path: {reply}")

    run_ioctl_path(agent)

    reply = agent.call("EstablishContext", scope=2)
    print("EstablishContext:", reply)
    rv = reply.get("rv")
    if check(isinstance(rv, int), f"EstablishContext: rv is not an integer: {reply}"):
        wanted_name = PCSC_NAMES.get(rv, "0x%08X" % rv)
        check(reply.get("rv_name") == wanted_name, f"EstablishContext: rv_name {reply.get('rv_name')} != {wanted_name}")
        if rv == 0:
            check(isinstance(reply.get("context"), int), f"EstablishContext: no context: {reply}")
            listed = agent.call("ListReaders", context=reply["context"])
            print("ListReaders:", listed)
            check(isinstance(listed.get("readers"), list), f"ListReaders: {listed}")
            released = agent.call("ReleaseContext", context=reply["context"])
            check(released.get("rv") == 0, f"ReleaseContext: {released}")
        else:
            check("context" not in reply, f"EstablishContext failed but carries a context: {reply}")
    reply = agent.call("Cancel")
    check(reply.get("error") == "missing field 'context'", f"Cancel without context: {reply}")

    reply = agent.call("Poweroff")
    check(reply.get("rv") == 0, f"Poweroff: {reply}")
    try:
        code = agent.process.wait(timeout=15)
        print("agent exited with", code, "after Poweroff")
        check(code == 0, f"agent's exit status after Poweroff: {code}")
    except subprocess.TimeoutExpired:
        check(False, "agent still running 15 s after Poweroff")


# Wine has no smart card reader, but its serial driver answers real IOCTLs, and one of them
# pends: IOCTL_SERIAL_WAIT_ON_MASK. Through `device` = \\.\COM2 the agent's IOCTL path runs
# for real: CreateFile, NtDeviceIoControlFile's NTSTATUS and Information, the output bytes, a
# pending IRP and WaitPending. What Wine 8 does here (measured): on a pty the pending wait is
# completed at once with STATUS_CANCELLED (Wine cannot watch a pty's modem lines), so
# WaitPending collects that completion; a wait issued when a byte is already queued completes
# at once with EV_RXCHAR; IOCTL_SMARTCARD_GET_STATE on a serial port is STATUS_NOT_SUPPORTED.
# CancelPending of a still-pending IRP needs an IRP that stays pending: a reader's IS_PRESENT
# in a Windows guest.
IOCTL_SERIAL_SET_WAIT_MASK = 0x001B0044  # CTL_CODE(FILE_DEVICE_SERIAL_PORT 0x1B, 17, BUFFERED, ANY)
IOCTL_SERIAL_WAIT_ON_MASK = 0x001B0048  # CTL_CODE(0x1B, 18, BUFFERED, ANY)
EV_RXCHAR = "01000000"  # winbase.h EV_RXCHAR = 0x0001, a little-endian ULONG


def run_ioctl_path(agent):
    com2 = "\\\\.\\COM2"
    reply = agent.call("Ioctl", device=com2, code=IOCTL_SERIAL_SET_WAIT_MASK, input=EV_RXCHAR)
    print("Ioctl SET_WAIT_MASK on COM2:", reply)
    check(reply.get("rv") == 0 and reply.get("rv_name") == "STATUS_SUCCESS" and reply.get("pending") is False
          and reply.get("information") == 0 and reply.get("output") == "" and reply.get("device") == com2,
          f"SET_WAIT_MASK: {reply}")
    check("state" in reply and reply["state"] is None, f"GET_STATE on a serial port has no state: {reply}")
    reply = agent.call("Ioctl", code=IOCTL_SERIAL_WAIT_ON_MASK, output_size=4)
    print("Ioctl WAIT_ON_MASK:", reply)
    check(reply.get("rv") == 0x103 and reply.get("rv_name") == "STATUS_PENDING" and reply.get("pending") is True
          and reply.get("information") == 0, f"WAIT_ON_MASK pends: {reply}")
    reply = agent.call("WaitPending", timeout_ms=5000)
    print("WaitPending:", reply)
    check(reply.get("completed") is True and reply.get("rv") == 0xC0000120 and reply.get("rv_name") == "STATUS_CANCELLED"
          and reply.get("information") == 0 and reply.get("output") == "", f"WaitPending: {reply}")
    reply = agent.call("WaitPending")
    check(reply.get("error") == "WaitPending: no IRP is pending", f"WaitPending after completion: {reply}")
    reply = agent.call("Ioctl", device=0, code=IOCTL_SERIAL_WAIT_ON_MASK)
    check(reply.get("rv", 0) is None and "no smart card reader device interface" in reply.get("error", ""),
          f"device index without readers: {reply}")
    os.write(agent.com2_master, b"!")
    time.sleep(0.2)
    reply = agent.call("Ioctl", code=IOCTL_SERIAL_WAIT_ON_MASK, output_size=4)
    print("Ioctl WAIT_ON_MASK with a byte queued:", reply)
    check(reply.get("rv") == 0 and reply.get("pending") is False and reply.get("information") == 4
          and reply.get("output") == EV_RXCHAR, f"WAIT_ON_MASK with a byte queued: {reply}")
    reply = agent.call("State")
    print("State on COM2:", reply)
    check(reply.get("rv_name") == "STATUS_NOT_SUPPORTED" and reply.get("state", 0) is None, f"State on COM2: {reply}")
    reply = agent.call("ListDevices")
    check(reply.get("devices") == [], f"ListDevices lists only reader interfaces: {reply}")


def run_default_port(agent):
    ready = agent.line(timeout=30)
    check(ready is not None and ready.get("api") == "winscard", f"default port (virtio, else COM1): ready {ready}")
    reply = agent.call("Exec", command="echo default-port", timeout_ms=20000)
    check("default-port" in reply.get("output", ""), f"default port Exec: {reply}")


SERVICE = "readerlab-agent"
# Where install-agent.ps1 puts the agent; its service log is written beside it.
INSTALL_DIR = ("Program Files", "readerlab")
MISSING_PORT = "\\\\.\\readerlab-no-such-port"


def agent_processes():
    return [pid for pid, words in command_lines() if b"readerlab-agent.exe --service" in words]


class ServiceControl:
    def __init__(self, wine, env):
        self.wine, self.env = wine, env

    def sc(self, *words):
        # Wine 8's sc.exe hangs now and then when it is the first program to reach the service
        # manager of a session that has just started (seen here in 4 runs of 11, never on a
        # second try): a try that takes 10 s is killed and made again.
        for attempt in range(3):
            try:
                result = subprocess.run([self.wine, "sc"] + list(words), env=self.env, capture_output=True, timeout=10)
                return result.returncode, result.stdout.decode(errors="replace")
            except subprocess.TimeoutExpired:
                print(f"wine sc {' '.join(words)}: no answer within 10 s (try {attempt + 1} of 3)")
        return -1, "no answer from wine sc in 3 tries"

    def state(self, name):
        _, text = self.sc("query", name)
        fields = {}
        for line in text.splitlines():
            if ":" in line:
                key, value = line.split(":", 1)
                words = value.split()
                # "STATE : 4  RUNNING" -> RUNNING; "WIN32_EXIT_CODE : 0  (0x0)" -> 0
                fields[key.strip()] = (words[1] if key.strip() == "STATE" else words[0]) if len(words) > 1 else value.strip()
        return fields

    def wait_state(self, name, wanted, timeout):
        deadline = time.monotonic() + timeout
        while True:
            fields = self.state(name)
            if fields.get("STATE") == wanted or time.monotonic() > deadline:
                return fields
            time.sleep(0.3)

    def create(self, name, exe_windows_path, port):
        # The prefix is new: no service of that name to delete first.
        code, text = self.sc("create", name, "binPath=", f'"{exe_windows_path}" --service --port {port}', "start=",
                             "demand")
        # 1073 ERROR_SERVICE_EXISTS: a try that hung had created it.
        check(code in (0, 1073), f"sc create {name}: exit {code}: {text.strip()}")


def wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(pid in agent_processes() for pid in pids):
            return True
        time.sleep(0.2)
    return False


def run_service_test(args):
    started = time.monotonic()
    env = dict(os.environ, WINEPREFIX=args.prefix, WINEDEBUG="-all")
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # A prefix of its own, made afresh: a service an earlier run left registered made Wine's
    # `sc delete` hang (seen here in 3 runs of 9).
    if os.path.exists(args.prefix):
        subprocess.run([wineserver_of(args.wine), "-k"], env=env, check=False, **quiet)
        shutil.rmtree(args.prefix)
    os.makedirs(args.prefix)
    subprocess.run([args.wine, "cmd", "/c", "exit"], env=env, timeout=90, check=False, **quiet)
    install_dir = os.path.join(args.prefix, "drive_c", *INSTALL_DIR)
    os.makedirs(install_dir, exist_ok=True)
    shutil.copy(args.agent, os.path.join(install_dir, "readerlab-agent.exe"))
    exe_windows_path = "C:\\" + "\\".join(INSTALL_DIR) + "\\readerlab-agent.exe"
    log_path = os.path.join(install_dir, "readerlab-agent.log")
    for old in (log_path, log_path + ".old"):
        if os.path.exists(old):
            os.remove(old)

    master, slave = os.openpty()
    tty.setraw(slave)
    subprocess.run([args.wine, "reg", "add", "HKLM\\Software\\Wine\\Ports", "/v", "COM1", "/d", os.ttyname(slave), "/f"],
                   env=env, check=True, timeout=60, **quiet)
    server = wineserver_of(args.wine)
    subprocess.run([server, "-k"], env=env, check=False, **quiet)
    subprocess.run([server, "-w"], env=env, check=False, **quiet)
    subprocess.run([server, "-p3"], env=env, check=False, **quiet)
    # Wine ends its services when the last ordinary Windows process exits (measured: `sc start`
    # alone leaves the service STOPPED a few seconds later), so a `cmd /c pause` holds the
    # session open until its stdin closes. A Windows guest has no such need.
    session = subprocess.Popen([args.wine, "cmd", "/c", "pause"], env=env, stdin=subprocess.PIPE, **quiet)
    scm = ServiceControl(args.wine, env)
    port = Agent.__new__(Agent)  # the protocol helpers of Agent, on the pty's master
    port.master, port.buffer, port.next_id = master, b"", 1
    port.process = session  # line() gives up if the session ends
    try:
        # A query first, with no side effect, absorbs sc.exe's hang at a session's start (ServiceControl.sc).
        code, text = scm.sc("query", "eventlog")
        print(f"sc query eventlog: exit {code}")
        # 1. The service on a COM1 that is there: ready, requests, stop.
        scm.create(SERVICE, exe_windows_path, "COM1")
        t = time.monotonic()
        code, text = scm.sc("start", SERVICE)
        check(code == 0, f"sc start: exit {code}: {text.strip()}")
        ready = port.line(timeout=15)
        print(f"service ready line after {time.monotonic() - t:.1f} s:", ready)
        check(ready == {"event": "ready", "agent": "readerlab-agent", "version": "0.1", "api": "winscard"},
              f"service ready event: {ready}")
        fields = scm.wait_state(SERVICE, "RUNNING", 5)
        print("sc query after the ready line:", fields)
        check(fields.get("STATE") == "RUNNING", f"service state after the ready line: {fields}")
        reply = port.call("Exec", command="echo hello-from-the-service", timeout_ms=20000)
        print("Exec through the service:", reply)
        check(reply.get("exit_code") == 0 and "hello-from-the-service" in reply.get("output", ""),
              f"Exec through the service: {reply}")
        expect_error(port, b"not json\n", "malformed JSON", "service: malformed JSON")
        pids = agent_processes()
        check(len(pids) == 1, f"one agent process while the service runs: {pids}")
        t = time.monotonic()
        code, text = scm.sc("stop", SERVICE)
        check(code == 0, f"sc stop: exit {code}: {text.strip()}")
        gone = wait_gone(pids, 10)
        print(f"sc stop: process gone {gone} after {time.monotonic() - t:.1f} s")
        check(gone, f"agent process {pids} still alive 10 s after sc stop")
        fields = scm.wait_state(SERVICE, "STOPPED", 5)
        check(fields.get("STATE") == "STOPPED" and fields.get("WIN32_EXIT_CODE") == "0",
              f"service after sc stop: {fields}")

        # 2. Poweroff through the service: the reply, then the process ends and the SCM sees a
        # clean stop, not a crash (Wine 8 cannot shut down: InitiateShutdownW is not implemented).
        code, text = scm.sc("start", SERVICE)
        check(code == 0, f"sc start (again): exit {code}: {text.strip()}")
        ready = port.line(timeout=15)
        check(ready is not None and ready.get("event") == "ready", f"second start: ready {ready}")
        pids = agent_processes()
        reply = port.call("Poweroff")
        check(reply.get("rv") == 0, f"Poweroff through the service: {reply}")
        check(wait_gone(pids, 10), f"agent {pids} still alive 10 s after Poweroff")
        fields = scm.wait_state(SERVICE, "STOPPED", 5)
        print("after Poweroff:", fields)
        check(fields.get("STATE") == "STOPPED" and fields.get("WIN32_EXIT_CODE") == "0",
              f"service after Poweroff: {fields}")

        # 3. A port that does not open: the service keeps retrying (START_PENDING, a log line)
        # and a stop ends it.
        scm.sc("delete", SERVICE)
        scm.create(SERVICE, exe_windows_path, MISSING_PORT)
        code, text = scm.sc("start", SERVICE)
        check(code == 0, f"sc start (missing port): exit {code}: {text.strip()}")
        time.sleep(4)  # more than one retry interval
        fields = scm.state(SERVICE)
        print("missing port, after 4 s:", fields)
        check(fields.get("STATE") == "START_PENDING" and int(fields.get("CHECKPOINT", "0"), 16) >= 1,
              f"service with a missing port (START_PENDING, its checkpoint advancing): {fields}")
        pids = agent_processes()
        check(len(pids) == 1, f"the retrying service's process: {pids}")
        code, text = scm.sc("stop", SERVICE)
        check(code == 0, f"sc stop while retrying: exit {code}: {text.strip()}")
        check(wait_gone(pids, 10), f"retrying agent {pids} still alive 10 s after sc stop")
        fields = scm.wait_state(SERVICE, "STOPPED", 5)
        check(fields.get("STATE") == "STOPPED", f"retrying service after sc stop: {fields}")
    finally:
        scm.sc("stop", SERVICE)
        scm.sc("delete", SERVICE)
        session.stdin.close()
        try:
            session.wait(timeout=15)
        except subprocess.TimeoutExpired:
            session.kill()
        subprocess.run([server, "-k"], env=env, check=False, **quiet)
        os.close(master)
        os.close(slave)

    log = open(log_path, "rb").read().decode(errors="replace") if os.path.exists(log_path) else ""
    print("service log (readerlab-agent.log):\n" + (log.rstrip() or "(empty)"))
    for wanted in ["service starting (pid", "port COM1", "ready line written on COM1 (attempt 1): service running",
                   "stop requested", "service stopped", "Poweroff: exiting", f"cannot open the port: {MISSING_PORT}: ",
                   "(retrying every 3 s)"]:
        check(wanted in log, f"service log lacks {wanted!r}")
    check(log.count("cannot open the port") == 1, "a port error that does not change is logged once")
    print(f"{len(failures)} failure(s), {time.monotonic() - started:.1f} s in all")
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--wine", required=True)
    parser.add_argument("--agent", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--service", action="store_true", help="test the service mode (sc create/start/stop)")
    args = parser.parse_args()
    if args.service:
        return run_service_test(args)
    started = time.monotonic()
    os.makedirs(args.prefix, exist_ok=True)
    env = dict(os.environ, WINEPREFIX=args.prefix, WINEDEBUG="-all")
    # The first start creates the prefix (dosdevices included).
    subprocess.run([args.wine, "cmd", "/c", "exit"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=90, check=False)
    print(f"wine prefix ready in {time.monotonic() - started:.1f} s")
    exe = os.path.abspath(args.agent)

    agent = Agent(args.wine, exe, args.prefix, ["--port", "COM1"], "agent-com1.log")
    try:
        run_main(agent)
    finally:
        agent.close()
    agent = Agent(args.wine, exe, args.prefix, [], "agent-default-port.log")
    try:
        run_default_port(agent)
    finally:
        agent.close()
    subprocess.run([wineserver_of(args.wine), "-k"], env=env, check=False, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    print(f"{len(failures)} failure(s), {time.monotonic() - started:.1f} s in all")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
