-- @title: every bError of CCID 6.2.6 in the answer to XfrBlock: SCardTransmit fails cleanly (or retries to the right data), and the next APDU works
-- @covers: pcsc:SCardTransmit, ccid:PC_to_RDR_XfrBlock, fault:error
-- @drivers: libccid, reference-rdf, windows
-- @spec: CCID 6.2.6 Table 6.2-2 (slot error register)
-- @timeout: 180

local session = faults.session()
for _, name in ipairs({ "ICC_MUTE", "XFR_PARITY_ERROR", "XFR_OVERRUN", "HW_ERROR", "BAD_ATR_TS", "BAD_ATR_TCK",
  "ICC_PROTOCOL_NOT_SUPPORTED", "ICC_CLASS_NOT_SUPPORTED", "PROCEDURE_BYTE_CONFLICT", "DEACTIVATED_PROTOCOL",
  "BUSY_WITH_AUTO_SEQUENCE", "PIN_TIMEOUT", "PIN_CANCELLED", "CMD_SLOT_BUSY" }) do
  faults.probe_transmit(session, { kind = "error", error = name, command = "XfrBlock" }, { label = "ccid error " .. name })
end
pcsc.disconnect(session.card, pcsc.SCARD_UNPOWER_CARD)
pcsc.release(session.context)
