#!/usr/bin/env python3
"""Feasibility probe for issue 13 item 3 (boot by restoring a saved VM state), not a benchmark
readerlab runs: boots readerlab's guest once with a reader from `readerlab serve` on usb-redir,
takes the first APDU, saves the VM state to a file (QEMU migration to "exec:cat > FILE"),
quits, starts QEMU again with -incoming from the file, and times the first APDU after the
restore (the reader re-attached through a new usb-redir connection).

    bench/probes/saved_state.py [BUILD_DIR]     (default: build; needs build/bin/readerlab
                                                 and a built guest in BUILD_DIR/guest)

It speaks the agent's protocol (drivers_under_test/agent/PROTOCOL.md) and QEMU's human
monitor on unix sockets in a temporary folder.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
work = tempfile.mkdtemp(prefix="readerlab-state-")
SELECT_MF = "00a4000c023f00"


def qemu(extra):
    argv = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "qemu64,+rdrand", "-smp", "1", "-m", "512",
            "-nographic", "-no-reboot", "-nic", "none",
            "-kernel", f"{build}/guest/vmlinuz", "-initrd", f"{build}/guest/initrd.img",
            "-append", "console=ttyS0 quiet panic=-1", "-serial", f"file:{work}/console.log",
            "-monitor", f"unix:{work}/monitor.sock,server,nowait", "-device", "qemu-xhci,id=xhci",
            "-chardev", f"socket,id=usbredir0,path={work}/reader.sock,reconnect=1",
            "-device", "usb-redir,id=usbredir0dev,chardev=usbredir0,bus=xhci.0",
            "-device", "virtio-serial-pci,id=vser",
            "-chardev", f"socket,id=agent,path={work}/agent.sock",
            "-device", "virtserialport,bus=vser.0,chardev=agent,name=readerlab.agent",
            # pcscd's log port, as readerlab gives it: without it /init waits for it, then logs to the console.
            "-chardev", f"file,id=pcscdlog,path={work}/pcscd.log",
            "-device", "virtserialport,bus=vser.0,chardev=pcscdlog,name=readerlab.log"] + extra
    return subprocess.Popen(argv, stdout=open(f"{work}/qemu.log", "a"), stderr=subprocess.STDOUT)


class Agent:
    def __init__(self, connection):
        self.connection, self.buffer, self.last_id = connection, b"", 0

    def line(self, timeout=60):
        self.connection.settimeout(timeout)
        while b"\n" not in self.buffer:
            data = self.connection.recv(65536)
            if not data:
                raise EOFError("the agent closed its port")
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def call(self, **request):
        self.last_id += 1
        request["id"] = self.last_id
        self.connection.sendall((json.dumps(request) + "\n").encode())
        while True:
            message = self.line()
            if message.get("id") == self.last_id:
                return message


def monitor(command):
    with socket.socket(socket.AF_UNIX) as m:
        m.connect(f"{work}/monitor.sock")
        m.settimeout(0.3)
        try:
            m.recv(65536)  # the banner
        except socket.timeout:
            pass
        m.sendall((command + "\n").encode())
        out = b""
        try:
            while True:
                data = m.recv(65536)
                if not data:
                    break
                out += data
        except socket.timeout:
            pass
        return out.decode(errors="replace")


def first_apdu(agent):
    context = agent.call(call="EstablishContext", scope=2)["context"]
    while True:
        listed = agent.call(call="ListReaders", context=context)
        if listed.get("readers"):
            break
        time.sleep(0.02)
    while True:
        card = agent.call(call="Connect", context=context, reader=listed["readers"][0], share_mode=2,
                          preferred_protocols=3)
        if card["rv"] == 0:
            break
        time.sleep(0.02)
    answer = agent.call(call="Transmit", card=card["card"], protocol=card["active_protocol"], apdu=SELECT_MF)
    return answer["rv_name"], answer.get("response"), card


serve = subprocess.Popen([f"{build}/bin/readerlab", "serve", "--listen", f"unix:{work}/reader.sock", "--card", "t1-fs"],
                         stdout=open(f"{work}/serve.log", "w"), stderr=subprocess.STDOUT, stdin=subprocess.PIPE)
time.sleep(0.5)
listener = socket.socket(socket.AF_UNIX)
listener.bind(f"{work}/agent.sock")
listener.listen(1)

start = time.time()
machine = qemu([])
agent = Agent(listener.accept()[0])
agent.line(240)  # {"event":"ready"}
print(f"boot: agent ready after {time.time() - start:.2f} s")
rv, response, card = first_apdu(agent)
print(f"boot: first APDU after {time.time() - start:.2f} s ({rv} {response})")

saved = time.time()
monitor("stop")
monitor(f'migrate "exec:cat > {work}/state"')
status = ""
while "completed" not in status and "failed" not in status and time.time() - saved < 60:
    status = monitor("info migrate")
    time.sleep(0.1)
print(f"save: {'completed' if 'completed' in status else 'FAILED'} in {time.time() - saved:.2f} s, "
      f"{os.path.getsize(f'{work}/state') / 1e6:.1f} MB")
monitor("quit")
machine.wait(10)

start = time.time()
machine = qemu(["-incoming", f"exec:cat {work}/state"])
agent = Agent(listener.accept()[0])
status = ""
while "paused" not in status and "running" not in status and time.time() - start < 60:
    status = monitor("info status")
    time.sleep(0.02)
# The source was stopped before the save, so the restored machine waits for "cont".
monitor("cont")
print(f"restore: running after {time.time() - start:.2f} s")
old = agent.call(call="Transmit", card=card["card"], protocol=card["active_protocol"], apdu=SELECT_MF)
print(f"restore: the saved card handle gives {old['rv_name']} after {time.time() - start:.2f} s "
      f"(the reader came back as a new USB device)")
rv, response, _ = first_apdu(agent)
print(f"restore: first APDU after a new SCardConnect {time.time() - start:.2f} s after QEMU started ({rv} {response})")
agent.call(call="Poweroff")
machine.wait(20)
serve.terminate()
print(f"logs in {work}")
