#!/usr/bin/env python3
"""Writes the seed corpora of fuzz/corpus/<target>/ from inputs the unit tests use: the
built-in cards' ATRs, the commands of the card and reader tests, usbredir sessions, agent
lines, a few case and card files. Each target reads its input in the layout its source file
describes (fuzz/targets/*.cpp, fuzz/fuzz_input.h). Rerun after changing a layout:
    fuzz/tools/make_seeds.py            (rewrites fuzz/corpus/)
"""
import hashlib
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
FUZZ = os.path.dirname(HERE)
ROOT = os.path.dirname(FUZZ)
CORPUS = os.path.join(FUZZ, "corpus")


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def rec8(b):
    return bytes([len(b)]) + bytes(b)


def rec16(b):
    return u16(len(b)) + bytes(b)


def with_tck(atr):
    x = 0
    for c in atr[1:]:
        x ^= c
    return bytes(atr) + bytes([x])


# ---- ATRs: the built-in cards (cards/profiles.cpp) and shapes from tests/cards/atr_test.cpp
ATRS = [
    with_tck(b"\x3B\x9B\x13\x81\x31\xFE\x45\x80\x59readerlab"),         # t1-fs
    b"\x3B\x0A\x80\x58t0-basic",                                         # t0-basic, no TCK
    b"\x3B\x97\x96\x80\x31\x80\x45\x80\x55t0-t1\x8C",                   # t0-t1
    with_tck(b"\x3B\x9A\x13\x91\x81\x31\xFE\x45\x80\x58specific"),      # specific-ta2
    b"\x3F\x09\x80\x57inverse",                                          # inverse convention
    with_tck(b"\x3B\x8E\x81\x31\xFE\x45\x80\x73\x00\x00\x40\x58extend"),
    b"\x3B\x86\x80\x31\x80\x15\x80\x54slow\x71",
    b"\x3B\x89\x81\x31\xFE\x45\x80\x57bad-atr\x87",                     # wrong TCK
    b"\x3B\x00",                                                         # minimal
    with_tck(b"\x3B\xF0\x96\x00\x00\x81\xB1\xFE\x45\x1F\x03"),          # T=1 + T=15 globals
    with_tck(b"\x3B\x80\x81\x71\xFE\x45\x01"),                         # T=1, CRC (TC3 = 01)
    b"\x3B\xFF" + b"\x11" * 31,                                          # truncated chain
    b"\x3A\x00",                                                         # bad TS
]


def t1_block(nad, pcb, inf, crc=False):
    b = bytes([nad, pcb, len(inf)]) + bytes(inf)
    if crc:
        reg = 0xFFFF
        for c in b:
            reg ^= c
            for _ in range(8):
                reg = (reg >> 1) ^ 0x8408 if reg & 1 else reg >> 1
        v = ~reg & 0xFFFF
        return b + bytes([v & 0xFF, v >> 8])
    x = 0
    for c in b:
        x ^= c
    return b + bytes([x])


# A T=1 block record of fuzz/t1_blocks.h: the harness computes the EDC.
def block_rec(nad, pcb, inf=b"", flags=0):
    return bytes([flags, nad, pcb]) + rec8(inf)


SELECT_MF = b"\x00\xA4\x00\x00\x02\x3F\x00"
SELECT_APP = b"\x00\xA4\x04\x00\x0B\xF0\x72\x65\x61\x64\x65\x72\x6C\x61\x62\x01\x00"
APDUS = [
    SELECT_MF,
    SELECT_APP,
    b"\x00\xA4\x00\x0C\x02\x01\x01",                 # SELECT EF 0101, no answer data
    b"\x00\xB0\x00\x00\x00",                         # READ BINARY, Le 256
    b"\x00\xB0\x81\x00\x10",                         # READ BINARY by SFI
    b"\x00\xD6\x00\x00\x03\x01\x02\x03",             # UPDATE BINARY
    b"\x00\xB2\x01\x0C\x00",                         # READ RECORD 1, SFI 1
    b"\x00\xE2\x00\x10\x02\xAA\xBB",                 # APPEND RECORD
    b"\x00\x20\x00\x80\x041234",                     # VERIFY
    b"\x00\x24\x00\x80\x0812345678",                 # CHANGE REFERENCE DATA
    b"\x00\x2C\x00\x80\x0C123456781234",             # RESET RETRY COUNTER
    b"\x00\x84\x00\x00\x08",                         # GET CHALLENGE
    b"\x00\xCA\x9F\x7F\x00",                         # GET DATA
    b"\x00\xDA\x01\x01\x02\x01\x02",                 # PUT DATA
    b"\x00\x70\x00\x00\x01",                         # MANAGE CHANNEL open
    b"\x00\xC0\x00\x00\x00",                         # GET RESPONSE
    b"\x80\x10\x00\x00\x04\x01\x02\x03\x04\x00",     # ECHO case 4
    b"\x00\xB0\x00\x00\x00\x00\x00",                 # extended Le 65536
    b"\x00\xD6\x00\x00\x00\x00\x03\x01\x02\x03",     # extended Lc
    b"\x00\xA4",                                     # too short
    b"\x0C\xB0\x00\x00\x00",                         # secure messaging
    b"\xFF\xA4\x00\x00",                             # invalid CLA
]


def ccid(type_, slot, seq, specific=b"\x00\x00\x00", data=b""):
    return bytes([type_]) + u32(len(data)) + bytes([slot, seq]) + specific + data


# ---- usbredir packets (usbredirproto.h) after the harness's hello
def redir(type_, header, data=b"", pid=0, ids64=False):
    body = header + data
    return u32(type_) + u32(len(body)) + (struct.pack("<Q", pid) if ids64 else u32(pid)) + body


def control(req_type, req, value, index, length, data=b"", pid=0, ids64=False):
    ep = 0x80 if req_type & 0x80 else 0x00
    header = bytes([ep, req, req_type, 0]) + u16(value) + u16(index) + u16(length)
    return redir(100, header, data, pid, ids64)


def bulk(ep, data=b"", length=None, pid=0, ids64=False, bulk32=False):
    n = len(data) if length is None else length
    header = bytes([ep, 0]) + u16(n) + u32(0) + (u16(n >> 16) if bulk32 else b"")
    return redir(101, header, data, pid, ids64)


def usbredir_seeds():
    seeds = {}
    for caps, name in [(0x00, "plain"), (0x60, "ids64-bulk32")]:
        ids64 = bool(caps & 0x20)
        bulk32 = bool(caps & 0x40)
        setup = (control(0x80, 0x06, 0x0100, 0, 18, pid=1, ids64=ids64)        # GET_DESCRIPTOR device
                 + control(0x80, 0x06, 0x0200, 0, 255, pid=2, ids64=ids64)      # configuration
                 + redir(6, b"\x01", pid=3, ids64=ids64))                        # set_configuration 1
        power = (bulk(0x01, ccid(0x62, 0, 1), pid=4, ids64=ids64, bulk32=bulk32)
                 + bulk(0x82, length=271, pid=5, ids64=ids64, bulk32=bulk32))
        select = (bulk(0x01, ccid(0x6F, 0, 2, data=SELECT_APP), pid=6, ids64=ids64, bulk32=bulk32)
                  + bulk(0x82, length=271, pid=7, ids64=ids64, bulk32=bulk32))
        seeds[f"{name}-setup"] = bytes([caps]) + setup
        seeds[f"{name}-power-select"] = bytes([caps]) + setup + power + select
        seeds[f"{name}-interrupt"] = bytes([caps]) + setup + redir(15, b"\x83", pid=8, ids64=ids64)
        seeds[f"{name}-strings"] = bytes([caps]) + b"".join(
            control(0x80, 0x06, 0x0300 | i, 0x0409, 255, pid=10 + i, ids64=ids64) for i in range(4))
    plain = False
    seeds["class-requests"] = b"\x00" + control(0xA1, 0x02, 0, 0, 64, pid=1) + control(0xA1, 0x03, 0, 0, 64, pid=2) \
        + control(0x21, 0x01, 0x0100, 0, 0, pid=3)
    seeds["cancel"] = b"\x00" + bulk(0x82, length=271, pid=9) + redir(21, b"", pid=9)
    seeds["reset-get-config"] = b"\x00" + redir(3, b"") + redir(7, b"", pid=1) + redir(10, b"\x00", pid=2) \
        + redir(9, b"\x00\x00", pid=3)
    seeds["iso-and-streams"] = b"\x00" + redir(12, b"\x81\x08\x04", pid=1) + redir(18, u32(2) + u32(4), pid=2) \
        + redir(25, u32(0) + u32(512) + b"\x82\x04", pid=3)
    seeds["interrupt-out"] = b"\x00" + redir(103, b"\x03\x00\x02\x00", b"\x01\x02", pid=1)
    seeds["stop-interrupt"] = b"\x00" + redir(15, b"\x83", pid=1) + redir(16, b"\x83", pid=2)
    del plain
    return seeds


def pps_seeds():
    seeds = {}
    requests = [b"\xFF\x11\x96\x78", b"\xFF\x01\xFE", b"\xFF\x00\xFF", b"\xFF\x71\x13\x00\x00\x63", b"\xFF\x11\x11\xFF",
                b"\xFF\x91\x13\x7D", b"\xFE\x00\xFE"]
    for i, request in enumerate(requests):
        atr = ATRS[2] if i % 2 == 0 else ATRS[0]
        seeds[f"request-{i}"] = bytes([i % 3]) + rec8(atr) + request
    return seeds


def iso_card_seeds():
    seeds = {}
    for profile in range(7):
        ops = b"\x03\x01" if profile != 1 else b"\x03\x00"
        for apdu in APDUS[:6]:
            ops += b"\x00" + rec16(apdu)
        seeds[f"profile-{profile}-files"] = bytes([profile]) + ops
    pins = b"".join(b"\x00" + rec16(a) for a in [APDUS[8], b"\x00\x20\x00\x80\x049999", b"\x00\x20\x00\x80\x049999",
                                                  b"\x00\x20\x00\x80\x049999", APDUS[10], APDUS[9]])
    seeds["pin-puk"] = b"\x00\x03\x01" + pins
    seeds["channels"] = b"\x00" + b"".join(b"\x00" + rec16(a) for a in [
        APDUS[14], b"\x01\xA4\x00\x00\x02\x50\x00", b"\x01\xB2\x01\x04\x00", b"\x00\x70\x80\x01\x00"])
    seeds["t0-get-response"] = b"\x01\x03\x00" + b"".join(b"\x00" + rec16(a) for a in [SELECT_APP[:-1], APDUS[15],
                                                                                         APDUS[3], APDUS[16]])
    seeds["pps-then-apdu"] = b"\x02\x02" + rec8(b"\xFF\x11\x96\x78") + b"\x00" + rec16(SELECT_MF) + b"\x01\x01"
    seeds["extended"] = b"\x05\x03\x01" + b"".join(b"\x00" + rec16(a) for a in [
        b"\x00\xA4\x00\x0C\x02\x01\x04", APDUS[17], APDUS[18]])
    seeds["records"] = b"\x00\x03\x01" + b"".join(b"\x00" + rec16(a) for a in [
        b"\x00\xA4\x04\x00\x0B\xF0\x72\x65\x61\x64\x65\x72\x6C\x61\x62\x02\x00", b"\x00\xB2\x01\x04\x00",
        b"\x00\xB2\x00\x02\x00", b"\x00\xDC\x01\x04\x02\x01\x02", b"\x00\xE2\x00\x00\x01\x01"])
    return seeds


def t1_card_side_seeds():
    seeds = {}
    # configuration, IFSC, then blocks
    seeds["i-block"] = b"\x00\x20" + block_rec(0, 0x00, SELECT_MF)
    seeds["chained-answer"] = b"\x00\x20" + block_rec(0, 0x00, b"\x00\x02") + block_rec(0, 0x90) + block_rec(0, 0x80) \
        + block_rec(0, 0x90) + block_rec(0, 0x80)
    seeds["chained-command"] = b"\x00\x10" + block_rec(0, 0x20, bytes(16)) + block_rec(0, 0x60, bytes(16)) \
        + block_rec(0, 0x00, b"\x04\x00")
    seeds["s-blocks"] = b"\x00\x20" + block_rec(0, 0xC1, b"\xFE") + block_rec(0, 0xC0) + block_rec(0, 0xC2) \
        + block_rec(0, 0x00, b"\x10\x00")
    seeds["errors"] = b"\x00\x20" + block_rec(0, 0x00, b"\x10\x00", flags=1) + block_rec(0, 0x81) \
        + bytes([0x80]) + rec8(b"\x00\x00") + block_rec(0, 0x40, b"\x01")
    seeds["crc-wtx-ifs"] = b"\x0B\x20\x40" + block_rec(0x12, 0x00, b"\x20\x00") + block_rec(0x12, 0xE1, b"\x40") \
        + block_rec(0x12, 0xE3, b"\x02") + block_rec(0x12, 0x90)
    seeds["faults"] = b"\x10\x20\xC5\x03\x02" + block_rec(0, 0x00, b"\x08\x00") + block_rec(0, 0x81) \
        + block_rec(0, 0x40, b"\x08\x00")
    seeds["reset"] = b"\x00\x20" + block_rec(0, 0x00, b"\x01") + b"\x20" + block_rec(0, 0x00, b"\x01")
    return seeds


def t1_interface_side_seeds():
    seeds = {}
    ok = b"\x90\x00"
    seeds["simple"] = b"\x00\x20\xFE" + rec16(SELECT_MF) + block_rec(0, 0x00, ok)
    seeds["ifsd"] = b"\x02\x20\xFE" + rec16(SELECT_MF) + block_rec(0, 0xE1, b"\xFE") + block_rec(0, 0x00, ok)
    seeds["chained-command"] = b"\x00\x08\xFE" + rec16(SELECT_APP) + block_rec(0, 0x80 | 0x10) + block_rec(0, 0x80) \
        + block_rec(0, 0x00, ok)
    seeds["chained-response"] = b"\x00\x20\xFE" + rec16(APDUS[3]) + block_rec(0, 0x20, bytes(32)) \
        + block_rec(0, 0x60, bytes(32)) + block_rec(0, 0x00, ok)
    seeds["wtx"] = b"\x01\x20\xFE" + rec16(SELECT_MF) + block_rec(0, 0xC3, b"\x05") + block_rec(0, 0x00, ok)
    seeds["errors-resynch"] = b"\x00\x20\xFE" + rec16(SELECT_MF) + block_rec(0, 0x00, ok, flags=1) + b"\x40" \
        + block_rec(0, 0x81) + block_rec(0, 0xE0) + block_rec(0, 0x00, ok)
    seeds["abort-ifs"] = b"\x04\x20\xFE" + rec16(SELECT_MF) + block_rec(0x12, 0xC1, b"\x10") + block_rec(0x12, 0xC2)
    seeds["two-apdus"] = b"\x00\x20\xFE" + rec16(SELECT_MF) + block_rec(0, 0x00, ok) + rec16(APDUS[3]) \
        + block_rec(0, 0x40, b"\x01\x02" + ok)
    return seeds


def ccid_seeds():
    seeds = {}
    def msg(type_, seq, specific=b"\x00\x00\x00", data=b"", slot=0):
        return b"\x01" + bytes([type_, slot, seq]) + specific + rec16(data)
    for level in range(3):
        for card in (0, 1, 2):
            body = msg(0x62, 1) + msg(0x6F, 2, data=SELECT_APP if level else t1_block(0, 0, SELECT_MF)) + msg(0x65, 3)
            seeds[f"level{level}-card{card}"] = bytes([level, card]) + body
    seeds["parameters"] = b"\x01\x00" + msg(0x62, 1) + msg(0x6C, 2) \
        + msg(0x61, 3, b"\x01\x00\x00", b"\x11\x10\x00\x4D\x00\x20\x00") + msg(0x6D, 4) + msg(0x6E, 5) \
        + msg(0x73, 6, data=u32(3580) + u32(9600))
    seeds["escape-secure-abort"] = b"\x01\x00" + msg(0x6B, 1, data=b"\x01\x02") + msg(0x69, 2, data=b"\x00\x00") \
        + b"\x04" + b"\x21\x01\x00\x03\x00\x00\x00\x00" + rec16(b"") + msg(0x72, 3)
    seeds["raw-and-partial"] = b"\x01\x00" + b"\x00" + rec16(ccid(0x62, 0, 1)) + b"\x02" + u16(5) + b"\x02" + u16(64) \
        + b"\x00" + rec16(ccid(0x6F, 0, 2, data=SELECT_MF)[:-2]) + b"\x02" + u16(300)
    seeds["insert-remove"] = b"\x05\x00" + b"\x03" + b"\x05\x80" + b"\x03" + b"\x05\x06" + msg(0x62, 1) + b"\x06\x80" \
        + msg(0x63, 2, slot=1)
    seeds["control"] = b"\x01\x00" + b"".join(b"\x04" + bytes([rt, r]) + u16(v) + u16(i) + u16(l) + rec16(b"")
                                             for rt, r, v, i, l in [(0x80, 6, 0x100, 0, 18), (0x80, 6, 0x200, 0, 255),
                                                                    (0xA1, 2, 0, 0, 64), (0xA1, 3, 0, 0, 64),
                                                                    (0x80, 0, 0, 0, 2), (0x00, 9, 1, 0, 0)])
    seeds["extended-chain"] = b"\x0A\x05\x10" + msg(0x62, 1) + msg(0x6F, 2, b"\x00\x01\x00", b"\x00\xD6\x00\x00\x00\x01\x00") \
        + msg(0x6F, 3, b"\x00\x02\x00", bytes(200)) + msg(0x6F, 4, b"\x00\x10\x00")
    seeds["tpdu-t0-pps"] = b"\x00\x02" + msg(0x62, 1) + msg(0x6F, 2, data=b"\xFF\x11\x96\x78") \
        + msg(0x6F, 3, data=b"\x00\xA4\x00\x00\x02") + msg(0x6F, 4, data=b"\x3F\x00")
    return seeds


def smclib_seeds():
    def ioctl(choice, in_bytes, out_length, attribute=0xFF):
        return b"\x00" + bytes([choice, attribute]) + u16(len(in_bytes)) + u16(out_length) + in_bytes
    t1_atr = with_tck(b"\x3B\x80\x81\x31\xFE\x45")
    seeds = {}
    power = ioctl(0, u32(1), 33)
    present = b"\x01\x02"
    seeds["state-attributes"] = ioctl(12, b"", 4) + b"".join(ioctl(1, u32(0), n, a) for a, n in
                                                             [(0, 32), (1, 2), (2, 4), (5, 4), (16, 4), (31, 64), (40, 4)])
    seeds["power-t1-transmit"] = present + b"\x02\x00" + rec8(t1_atr) + power + ioctl(11, u32(2), 4) \
        + b"\x05\x01" + rec16(b"\x00\xE1\x01\xFE") + b"\x05\x01" + rec16(b"\x00\x00\x02\x90\x00") \
        + ioctl(4, u32(2) + u32(8) + SELECT_MF, 64)
    seeds["t1-chained-crc"] = present + b"\x02\x01" + rec8(b"\x3B\x80\x81\x71\xFE\x45\x01") + power \
        + ioctl(11, u32(2), 4) + b"\x05\x02" + rec16(b"\x00\x20\x02\x01\x02") + b"\x05\x02" \
        + rec16(b"\x00\xC3\x01\x02") + b"\x05\x02" + rec16(b"\x00\x40\x02\x90\x00") \
        + ioctl(4, u32(2) + u32(8) + APDUS[3], 300)
    seeds["power-t0-transmit"] = present + b"\x02\x00" + rec8(b"\x3B\x00") + power + ioctl(11, u32(1), 4) \
        + b"\x05\x00" + rec16(b"\x90\x00") + ioctl(4, u32(1) + u32(8) + b"\x00\xB0\x00\x00\x10", 64)
    seeds["tracking"] = b"\x01\x01" + ioctl(9, b"", 0) + b"\x03\x01" + ioctl(10, b"", 0) + b"\x06" + ioctl(10, b"", 0)
    seeds["set-attributes"] = ioctl(2, u32(0) + b"\x01", 0, 44) + ioctl(2, u32(0) + u32(1), 0, 44) \
        + ioctl(1, u32(0), 4, 44)
    seeds["misc"] = ioctl(13, b"", 4) + ioctl(14, b"", 32) + ioctl(15, b"", 64) + ioctl(16, u32(0), 0) \
        + ioctl(3, b"", 0) + ioctl(5, b"", 0) + ioctl(6, b"", 0) \
        + b"\x00\xFF" + u32(0x31FFFC) + b"\xFF" + u16(0) + u16(0)
    seeds["power-failures"] = present + b"\x04\x01" + power + b"\x04\x00" + ioctl(0, u32(0), 0) + ioctl(0, u32(2), 32)
    return seeds


def agent_seeds():
    ready = b'{"event":"ready","agent":"readerlab-agent","version":"0.1","api":"pcsc-lite"}\n'
    return {
        "ready-and-replies": ready + b'{"id":1,"rv":0,"context":1}\n{"id":2,"rv":0,"readers":["readerlab 00 00"]}\n',
        "malformed": ready + b'{"id":null,"rv":null,"error":"malformed JSON"}\nnot json\n[1,2]\n{"id":-1}\n',
        "events": b'{"event":"log","text":"x"}\r\n' + ready + b'{"event":"ready"}\n{"id":1.5,"rv":0}\n',
        "partial": ready + b'{"id":2,"rv":0,"atr":"3B00"',
        "big-ids": ready + b'{"id":18446744073709551615,"rv":1}\n{"id":1,"rv":"x","nested":{"a":[[[[1]]]]}}\n',
    }


def text_files(paths):
    seeds = {}
    for path in paths:
        with open(os.path.join(ROOT, path), "rb") as f:
            seeds[os.path.splitext(os.path.basename(path))[0]] = f.read()
    return seeds


def lua_card_seeds():
    seeds = text_files(["cards/profiles/applet.lua", "cards/profiles/ibm-test.lua", "cards/profiles/t1-ifsc16.lua"])
    seeds["minimal"] = b'atr = "3B 00"\n'
    seeds["fields"] = (b'name = "f"\natr = { protocols = {1}, ta1 = 0x13, ifsc = 254, crc = true, historical = "80 58" }\n'
                       b'files = { ef{ fid = 0x0101, sfi = 1, contents = "00 01 02" },\n'
                       b'  ef{ fid = 0x0201, structure = "cyclic", records = {"0102", "0304"}, record_size = 2 },\n'
                       b'  df{ aid = "F0 72 65 61 64", fid = 0x5000, files = { ef{ fid = 0x5001, size = 8 } } } }\n'
                       b'pin = { value = "1234", tries = 3 }\npuk = "12345678"\n'
                       b'data_objects = { { tag = 0x9F7F, value = "01 02", read_only = true } }\npps = "decline"\n')
    seeds["handlers"] = (b'atr = "3B 00"\nfunction on_reset(kind) if kind == "warm" then return "3B 01 00" end end\n'
                         b'function on_apdu(apdu)\n  if apdu.ins == 0x84 then return "\\1\\2", 0x9000 end\n'
                         b'  if apdu.ins == 0x10 then card.wtx(3); card.mute(1); return false end\n'
                         b'  if apdu.malformed then return 0x6700 end\n  return card.iso(apdu.bytes)\nend\n')
    seeds["errors"] = b'atr = "3B 8"\nfiles = { ef{ fid = "x" } }\n'
    return seeds


def case_seeds():
    seeds = text_files(["conformance/cases/smclib/get-state.lua", "conformance/cases/smclib/power-faults.lua",
                        "conformance/cases/pcsc/reader-listed.lua"])
    seeds["metadata"] = (b"-- @title: t\n-- @covers: a, b ,, c\n-- @spec: ISO 7816-3 8\n-- @timeout: 99999999999\n"
                         b"-- @drivers: libccid\n-- no key here\n-- @bad\nlocal x = 1\n")
    seeds["expectations"] = b"# known\npcsc/x reason | must contain\npcsc/y\n\n"
    seeds["loop"] = b"-- @title: loop\nwhile true do end\n"
    seeds["error"] = b"-- @title: e\nerror({})\n"
    return seeds


def t1_block_seeds():
    return {
        "i-lrc": t1_block(0, 0x00, SELECT_MF), "i-crc": t1_block(0, 0x40, SELECT_MF, crc=True),
        "r-lrc": t1_block(0, 0x81, b""), "s-ifs": t1_block(0x12, 0xC1, b"\xFE"), "s-wtx-crc": t1_block(0, 0xE3, b"\x02", crc=True),
        "s-resynch": t1_block(0, 0xC0, b""), "i-254": t1_block(0, 0x20, bytes(254)), "len-ff": b"\x00\x00\xFF\xFF",
        "short": b"\x00\x00", "bad-edc": t1_block(0, 0, b"\x01")[:-1] + b"\x00",
    }


def write(target, seeds):
    folder = os.path.join(CORPUS, target)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for name, data in seeds.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)


def main():
    write("atr", {f"atr-{i:02d}": a for i, a in enumerate(ATRS)})
    write("pps", pps_seeds())
    write("apdu", {f"apdu-{i:02d}": a for i, a in enumerate(APDUS)})
    write("iso_card", iso_card_seeds())
    write("t1_block", t1_block_seeds())
    write("t1_card_side", t1_card_side_seeds())
    write("t1_interface_side", t1_interface_side_seeds())
    write("ccid_reader", ccid_seeds())
    write("usbredir_server", usbredir_seeds())
    write("lua_card", lua_card_seeds())
    write("case_file", case_seeds())
    write("agent_replies", agent_seeds())
    write("smclib_device_control", smclib_seeds())


if __name__ == "__main__":
    main()
