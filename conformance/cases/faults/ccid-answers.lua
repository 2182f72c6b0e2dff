-- @title: a reader's malformed answers to XfrBlock (wrong bSeq or bSlot, dwLength off by one, unknown type, twice, none, late, a storm of time extensions): SCardTransmit fails cleanly or gives the right data, and the next APDU works
-- @covers: pcsc:SCardTransmit, ccid:PC_to_RDR_XfrBlock, fault:wrong-seq, fault:wrong-slot, fault:length-short, fault:length-long, fault:unknown-type, fault:duplicate, fault:no-response, fault:late, fault:time-extension-storm
-- @drivers: libccid, reference-rdf, windows
-- @spec: CCID 6.2.1 (RDR_to_PC_DataBlock: bSeq, bSlot, dwLength of the command), 6.2.6 (bmCommandStatus time extension)
-- @timeout: 240

local session = faults.session()
-- Answers a correct driver must refuse (the data may still be right: then success is no harm).
for _, kind in ipairs({ "wrong-seq", "wrong-slot", "length-short", "length-long", "unknown-type", "duplicate" }) do
  faults.probe_transmit(session, { kind = kind, command = "XfrBlock" }, { label = "ccid " .. kind })
end
-- Answers a correct driver must wait for.
faults.probe_transmit(session, { kind = "late", command = "XfrBlock", delay_ms = 1500 },
  { label = "ccid late (1.5 s)", must_work = true })
faults.probe_transmit(session, { kind = "time-extension-storm", command = "XfrBlock", count = 50 },
  { label = "ccid time-extension-storm (50)", must_work = true })
-- No answer at all: the driver gives up after its own timeout and the reader answers the next command.
faults.probe_transmit(session, { kind = "no-response", command = "XfrBlock" },
  { label = "ccid no-response", timeout_ms = 90000 })
pcsc.disconnect(session.card, pcsc.SCARD_UNPOWER_CARD)
pcsc.release(session.context)
