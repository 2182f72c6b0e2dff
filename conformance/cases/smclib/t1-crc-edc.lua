-- @title: a T=1 card announcing CRC EDC computes ISO/IEC 13239's CRC, Windows' smclib CRC-16/ARC: at TPDU level no block gets through, and TRANSMIT fails with DEVICE_PROTOCOL_ERROR after two R-blocks and three resynchs, the way Windows fails it; a card computing Windows' CRC (t1_crc = "windows") gets through
-- @covers: t1:CRC EDC, t1:error recovery, callback:RDF_TRANSMIT/DEVICE_PROTOCOL_ERROR, ioctl:IOCTL_SMARTCARD_TRANSMIT
-- @drivers: reference-rdf, windows
-- @spec: issue 10 rules 17 (Windows' CRC: polynomial 0x8005 reflected, preset 0, high byte first) and 18 (R-blocks in the S(IFS) exchange, the third resynch fails); ISO 7816-3 11.4.4 and 11.6.3

-- At TPDU level every block the library builds is one CCID XfrBlock, so the reader's count of
-- commands is the number of blocks the model sent. The card's answers carry its ISO CRC, an
-- EDC error to the model every time (and the model's CRC is one to the card).
lab.reader(1):configure({ exchange = "tpdu" })
local function commands() return lab.reader(1):info().commands end
local function transmit(apdu)
  local before = commands()
  local reply = smc.ioctl(smc.IOCTL_SMARTCARD_TRANSMIT, smc.transmit_input(smc.SCARD_PROTOCOL_T1, apdu), 300)
  lab.log("TRANSMIT " .. apdu .. " to the CRC card: " .. tostring(reply.rv_name) .. " after " ..
          (commands() - before) .. " blocks")
  return reply, commands() - before
end

smc.insert("t1-crc")
local _, protocol = smc.power_and_select(smc.SCARD_PROTOCOL_T1)
lab.check_eq(protocol, smc.SCARD_PROTOCOL_T1, "T=1 selected (PPS and SET_PROTOCOL carry no T=1 block)")
lab.check_eq(smc.attribute_ulong("CURRENT_EBC_ENCODING"), 1, "the library read CRC from TC3")

local first, first_blocks = transmit("00a4000c023f00")
smc.expect(first, "STATUS_DEVICE_PROTOCOL_ERROR", "the first TRANSMIT to a card computing the ISO CRC")
lab.check_eq(first.information, 0, "no response bytes")
-- S(IFS request), R-block, R-block (the third bad answer starts a resynch), S(RESYNCH request)
-- twice; the third resynch ends the exchange without a block.
lab.check_eq(first_blocks, 5, "blocks: S(IFS request), two R-blocks, two S(RESYNCH request)s")

-- The failed exchange leaves the engine at T1_START: the next APDU starts with its I-block and
-- fails the same way.
local second, second_blocks = transmit("00b0000008")
smc.expect(second, "STATUS_DEVICE_PROTOCOL_ERROR", "the next TRANSMIT")
lab.check_eq(second_blocks, 5, "blocks: the I-block, two R-blocks, two S(RESYNCH request)s")

-- The same card computing Windows' CRC instead (cards/profiles/README.md, t1_crc = "windows"):
-- the exchange that works, S(IFS request) then the I-block.
lab.reader(1):remove()
smc.insert("t1-crc-windows")
smc.power_and_select(smc.SCARD_PROTOCOL_T1)
local windows, windows_blocks = transmit("00a4000c023f00")
smc.expect(windows, "STATUS_SUCCESS", "TRANSMIT to a card computing Windows' CRC")
lab.check_eq(hex.sw(windows.output), "9000", "SELECT MF through Windows' CRC")
lab.check_eq(windows_blocks, 2, "blocks: S(IFS request), then the I-block")
