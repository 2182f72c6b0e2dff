// The CCID 1.1 commands beyond power, parameters and XfrBlock, as a host driver sees them:
// Secure (the PIN pad), Escape, IccClock, T0APDU, Mechanical and SetDataRateAndClockFrequency,
// their codec, every bError they answer, and a card swap seen as removal then insertion.
#include "cards/apdu/iso_card.h"
#include "cards/profiles.h"
#include "emulator/ccid/reader.h"
#include "tests/emulator/ccid/ccid_support.h"

#include <doctest/doctest.h>

#include <thread>

namespace readerlab::ccid {
namespace {

using namespace test;

ReaderConfig pin_pad_config(std::uint8_t pin_support = 0x03) {
  ReaderConfig config;
  config.pin_support = pin_support;
  config.lcd_layout = 0x0210;  // 2 lines of 16 characters
  return config;
}

std::unique_ptr<Reader> powered_reader(ReaderConfig config, std::string_view card_name = "t1-fs") {
  auto reader = std::make_unique<Reader>(std::move(config));
  reader->insert(cards::make_builtin_card(card_name));
  const auto atr = reader->handle_message(command(Command::icc_power_on, 0));
  REQUIRE(status_of(atr) == kActiveOk);
  return reader;
}

// VERIFY of the file-system cards' PIN (reference 80, "1234" in ASCII, ISO 7816-4 7.5.6): the
// pad fills the command data, whose length follows the PIN (block size 0).
PinVerifyStructure ascii_verify() {
  PinVerifyStructure s;
  s.block_string = 0x00;
  s.apdu = hex("00 20 00 80 00");
  return s;
}

// CHANGE REFERENCE DATA with the current PIN then the new one (ISO 7816-4 7.5.7), each 4 ASCII
// digits with no padding, as the cards take them.
PinModifyStructure ascii_modify() {
  PinModifyStructure s;
  s.block_string = 0x00;
  s.insertion_offset_old = 0;
  s.insertion_offset_new = 4;
  s.apdu = hex("00 24 00 80 00");
  return s;
}

KeypadScript typed(std::string digits) {
  KeypadScript script;
  script.digits = std::move(digits);
  return script;
}

Bytes secure(Reader& reader, const Bytes& data, std::uint8_t seq = 0x21) {
  return reader.handle_message(command(Command::secure, seq, data));
}

Bytes read_interrupt(Reader& reader) {
  auto in = reader.transfer_in(kInterruptIn, 8);
  return in ? in->data : Bytes{};
}

}  // namespace

TEST_CASE("codec: the PIN verification structure goes out field by field and decodes back") {
  PinVerifyStructure s;
  s.timeout = 0x1E;
  s.apdu = hex("00 20 00 80 08 FF FF FF FF FF FF FF FF");
  const Bytes data = secure_data(s);
  CHECK(to_hex(data) == "00 1E 82 08 00 08 04 02 01 09 04 00 00 00 00 00 20 00 80 08 FF FF FF FF FF FF FF FF");
  const Bytes message = command(Command::secure, 7, data, 0, 0, 0, 0);
  const auto decoded = decode(message, 271);
  REQUIRE(decoded.message);
  CHECK(decoded.message->type == 0x69);
  CHECK(decoded.message->data == data);
  CHECK(encode(*decoded.message) == message);
}

TEST_CASE("codec: the PIN modification structure carries bMsgIndex2 and 3 as bNumberMessage says") {
  PinModifyStructure s;
  s.apdu = hex("00 24 00 80 00");
  s.number_message = 3;
  CHECK(to_hex(secure_data(s)) == "01 00 82 08 00 00 08 08 04 03 02 03 09 04 00 01 02 00 00 00 00 24 00 80 00");
  s.number_message = 1;
  CHECK(to_hex(secure_data(s)) == "01 00 82 08 00 00 08 08 04 03 02 01 09 04 00 01 00 00 00 00 24 00 80 00");
  s.number_message = 0;
  CHECK(to_hex(secure_data(s)) == "01 00 82 08 00 00 08 08 04 03 02 00 09 04 00 00 00 00 00 24 00 80 00");
}

TEST_CASE("codec: RDR_to_PC_DataRateAndClockFrequency and RDR_to_PC_Escape round trip") {
  const Bytes answer = data_rate_and_clock(1, 9, kActiveOk, 0, 4000, 10752);
  CHECK(to_hex(answer) == "84 08 00 00 00 01 09 00 00 00 A0 0F 00 00 00 2A 00 00");
  const auto values = decode_data_rate_and_clock(answer);
  REQUIRE(values);
  CHECK(*values == DataRateAndClock{4000, 10752});
  CHECK_FALSE(decode_data_rate_and_clock(Bytes(answer.begin(), answer.end() - 1)));
  CHECK_FALSE(decode_data_rate_and_clock(slot_status(0, 0, 0, 0, 0)));
  const Bytes escape = escape_response(0, 3, kInactiveOk, 0, hex("CA FE"));
  CHECK(to_hex(escape) == "83 02 00 00 00 00 03 01 00 00 CA FE");
  CHECK(to_hex(slot_status(0, 4, kActiveOk, 0, 2)) == "81 00 00 00 00 00 04 00 00 02");
}

TEST_CASE("Escape reaches the reader's handler; nullopt or no handler is CMD_NOT_SUPPORTED") {
  auto reader = powered_reader({});
  auto answer = reader->handle_message(command(Command::escape, 1, hex("01 02")));
  CHECK(type_of(answer) == 0x83);
  CHECK(error_of(answer) == error::cmd_not_supported);
  reader->set_escape_handler([](std::span<const std::uint8_t> in) -> std::optional<Bytes> {
    if (in.size() == 1 && in[0] == 0x42) return hex("56 31 2E 30");  // "V1.0", a firmware version
    return std::nullopt;
  });
  answer = reader->handle_message(command(Command::escape, 2, hex("42")));
  CHECK(type_of(answer) == 0x83);
  CHECK(status_of(answer) == kActiveOk);
  CHECK(seq_of(answer) == 2);
  CHECK(data_of(answer) == hex("56 31 2E 30"));
  answer = reader->handle_message(command(Command::escape, 3, hex("43")));
  CHECK(status_of(answer) == kActiveFailed);
  CHECK(error_of(answer) == error::cmd_not_supported);
}

TEST_CASE("IccClock stops the clock (bClockStatus, a mute card) and restarts it; its bErrors") {
  auto reader = powered_reader({});
  auto answer = reader->handle_message(command(Command::icc_clock, 1, {}, 0, 0x01));
  CHECK(type_of(answer) == 0x81);
  CHECK(status_of(answer) == kActiveOk);
  CHECK(byte9_of(answer) == 0x01);  // stopped in state L
  CHECK(byte9_of(reader->handle_message(command(Command::get_slot_status, 2))) == 0x01);
  answer = reader->handle_message(command(Command::xfr_block, 3, select_readerlab_application()));
  CHECK(status_of(answer) == kActiveFailed);
  CHECK(error_of(answer) == error::icc_mute);
  answer = reader->handle_message(command(Command::icc_clock, 4, {}, 0, 0x00));
  CHECK(status_of(answer) == kActiveOk);
  CHECK(byte9_of(answer) == 0x00);
  answer = reader->handle_message(command(Command::xfr_block, 5, select_readerlab_application()));
  CHECK(status_of(answer) == kActiveOk);

  // A command RFU, data after the header, no powered card.
  answer = reader->handle_message(command(Command::icc_clock, 6, {}, 0, 0x02));
  CHECK(error_of(answer) == error::offset_byte7);
  answer = reader->handle_message(command(Command::icc_clock, 7, hex("00")));
  CHECK(error_of(answer) == error::offset_length);
  reader->handle_message(command(Command::icc_power_off, 8));
  answer = reader->handle_message(command(Command::icc_clock, 9, {}, 0, 0x01));
  CHECK(status_of(answer) == kInactiveFailed);
  CHECK(error_of(answer) == error::icc_mute);
  // A power-on runs the clock again.
  auto stopped = powered_reader({});
  stopped->handle_message(command(Command::icc_clock, 1, {}, 0, 0x01));
  stopped->handle_message(command(Command::icc_power_on, 2));
  CHECK(byte9_of(stopped->handle_message(command(Command::get_slot_status, 3))) == 0x00);
}

TEST_CASE("T0APDU sets the class of the reader's GET RESPONSE; TPDU readers and RFU bits refuse it") {
  auto reader = powered_reader({}, "t0-basic");
  // SELECT (case 4) on T=0: the reader fetches the FCI with GET RESPONSE in the command's class.
  auto answer = reader->handle_message(command(Command::xfr_block, 1, select_readerlab_application()));
  REQUIRE(status_of(answer) == kActiveOk);
  const Bytes fci = data_of(answer);
  CHECK(fci.size() > 2);
  CHECK(to_hex(Bytes(fci.end() - 2, fci.end())) == "90 00");
  // bClassGetResponse 0x80: a class the card does not take for GET RESPONSE (ISO 7816-4 5.1.1).
  answer = reader->handle_message(command(Command::t0_apdu, 2, {}, 0, 0x01, 0x80, 0x00));
  CHECK(type_of(answer) == 0x81);
  CHECK(status_of(answer) == kActiveOk);
  answer = reader->handle_message(command(Command::xfr_block, 3, select_readerlab_application()));
  CHECK(data_of(answer) != fci);
  // 0xFF: the command's own class again.
  reader->handle_message(command(Command::t0_apdu, 4, {}, 0, 0x01, 0xFF, 0x00));
  answer = reader->handle_message(command(Command::xfr_block, 5, select_readerlab_application()));
  CHECK(data_of(answer) == fci);

  answer = reader->handle_message(command(Command::t0_apdu, 6, {}, 0, 0x04));
  CHECK(error_of(answer) == error::offset_byte7);
  answer = reader->handle_message(command(Command::t0_apdu, 7, hex("00"), 0, 0x01));
  CHECK(error_of(answer) == error::offset_length);
  ReaderConfig tpdu;
  tpdu.set_exchange_level(ExchangeLevel::tpdu);
  Reader tpdu_reader(tpdu);
  answer = tpdu_reader.handle_message(command(Command::t0_apdu, 8, {}, 0, 0x01, 0x80, 0x00));
  CHECK(status_of(answer) == kAbsentFailed);
  CHECK(error_of(answer) == error::cmd_not_supported);
}

TEST_CASE("SetDataRateAndClockFrequency takes the nearest listed values and answers them") {
  ReaderConfig config;
  config.clock_frequencies_khz = {3580, 4800};
  config.data_rates_bps = {9600, 19200, 38400};
  auto reader = powered_reader(config);
  Bytes wanted;
  append_le(wanted, 4800, 4);
  append_le(wanted, 19200, 4);
  auto answer = reader->handle_message(command(Command::set_data_rate_and_clock_frequency, 1, wanted));
  CHECK(type_of(answer) == 0x84);
  CHECK(status_of(answer) == kActiveOk);
  CHECK(decode_data_rate_and_clock(answer) == DataRateAndClock{4800, 19200});
  Bytes off_list;
  append_le(off_list, 4000, 4);
  append_le(off_list, 30000, 4);
  answer = reader->handle_message(command(Command::set_data_rate_and_clock_frequency, 2, off_list));
  CHECK(status_of(answer) == kActiveOk);
  CHECK(decode_data_rate_and_clock(answer) == DataRateAndClock{3580, 38400});

  answer = reader->handle_message(command(Command::set_data_rate_and_clock_frequency, 3, hex("00 00 00 00")));
  CHECK(type_of(answer) == 0x84);
  CHECK(error_of(answer) == error::offset_length);
  Reader empty(config);
  answer = empty.handle_message(command(Command::set_data_rate_and_clock_frequency, 4, wanted));
  CHECK(status_of(answer) == kAbsentFailed);
  CHECK(error_of(answer) == error::icc_mute);
}

TEST_CASE("Mechanical follows dwMechanical: lock keeps the card in, eject and capture take it out") {
  auto plain = powered_reader({});
  auto answer = plain->handle_message(command(Command::mechanical, 1, {}, 0, 0x02));
  CHECK(type_of(answer) == 0x81);
  CHECK(error_of(answer) == error::cmd_not_supported);
  CHECK(plain->card_present());

  ReaderConfig motorised;
  motorised.mechanical = 0x0F;  // accept, eject, capture, lock/unlock
  auto reader = powered_reader(motorised);
  (void)read_interrupt(*reader);
  answer = reader->handle_message(command(Command::mechanical, 2, {}, 0, 0x04));
  CHECK(status_of(answer) == kActiveOk);
  CHECK(reader->card_locked());
  CHECK(reader->remove() == nullptr);
  CHECK(reader->card_present());
  reader->insert(cards::make_builtin_card("t0-basic"));
  CHECK(reader->card_powered());  // still the locked card
  reader->handle_message(command(Command::mechanical, 3, {}, 0, 0x05));
  CHECK_FALSE(reader->card_locked());
  CHECK(reader->remove() != nullptr);
  CHECK(read_interrupt(*reader) == hex("50 02"));

  reader->insert(cards::make_builtin_card("t1-fs"));
  CHECK(read_interrupt(*reader) == hex("50 03"));
  answer = reader->handle_message(command(Command::mechanical, 4, {}, 0, 0x01));  // accept
  CHECK(status_of(answer) == kInactiveOk);
  answer = reader->handle_message(command(Command::mechanical, 5, {}, 0, 0x02));  // eject
  CHECK(status_of(answer) == kAbsentOk);
  CHECK_FALSE(reader->card_present());
  CHECK(read_interrupt(*reader) == hex("50 02"));
  answer = reader->handle_message(command(Command::mechanical, 6, {}, 0, 0x03));  // capture, nothing in
  CHECK(status_of(answer) == kAbsentFailed);
  CHECK(error_of(answer) == error::icc_mute);
  reader->insert(cards::make_builtin_card("t1-fs"));
  (void)read_interrupt(*reader);
  answer = reader->handle_message(command(Command::mechanical, 7, {}, 0, 0x03));
  CHECK(status_of(answer) == kAbsentOk);
  CHECK(read_interrupt(*reader) == hex("50 02"));
  for (std::uint8_t rfu : Bytes{0x00, 0x06, 0xFF}) {
    CAPTURE(unsigned(rfu));
    CHECK(error_of(reader->handle_message(command(Command::mechanical, 8, {}, 0, rfu))) == error::offset_byte7);
  }
}

TEST_CASE("Secure verifies the PIN the keypad types: the card's 90 00 and 63 Cx come back") {
  auto reader = powered_reader(pin_pad_config());
  reader->set_keypad(0, typed("1234"));
  auto answer = secure(*reader, secure_data(ascii_verify()));
  CHECK(type_of(answer) == 0x80);
  CHECK(status_of(answer) == kActiveOk);
  CHECK(to_hex(data_of(answer)) == "90 00");
  reader->set_keypad(0, typed("9999"));
  CHECK(to_hex(data_of(secure(*reader, secure_data(ascii_verify())))) == "63 C2");
  CHECK(to_hex(data_of(secure(*reader, secure_data(ascii_verify())))) == "63 C1");
  reader->set_keypad(0, typed("1234"));
  CHECK(to_hex(data_of(secure(*reader, secure_data(ascii_verify())))) == "90 00");
}

TEST_CASE("Secure: nobody at the pad, timeout and cancel; the entry conditions") {
  auto reader = powered_reader(pin_pad_config());
  auto answer = secure(*reader, secure_data(ascii_verify()));
  CHECK(status_of(answer) == kActiveFailed);
  CHECK(error_of(answer) == error::pin_timeout);
  KeypadScript cancel = typed("12");
  cancel.cancel = true;
  reader->set_keypad(0, cancel);
  CHECK(error_of(secure(*reader, secure_data(ascii_verify()))) == error::pin_cancelled);
  KeypadScript walks_away = typed("1234");
  walks_away.timeout = true;
  reader->set_keypad(0, walks_away);
  CHECK(error_of(secure(*reader, secure_data(ascii_verify()))) == error::pin_timeout);
  // The structure lets a timeout validate the entry: the digits typed are the PIN.
  PinVerifyStructure by_timeout = ascii_verify();
  by_timeout.entry_validation = 0x04;
  CHECK(to_hex(data_of(secure(*reader, secure_data(by_timeout)))) == "90 00");
  // No OK key: the entry ends when the maximum number of digits is in.
  KeypadScript no_ok = typed("1234");
  no_ok.confirm = false;
  reader->set_keypad(0, no_ok);
  PinVerifyStructure four = ascii_verify();
  four.max_digits = 4;
  four.entry_validation = 0x01;
  CHECK(to_hex(data_of(secure(*reader, secure_data(four)))) == "90 00");
  four.entry_validation = 0x02;  // only the OK key ends it, and nobody presses it
  CHECK(error_of(secure(*reader, secure_data(four))) == error::pin_timeout);
  // Shorter than the minimum: the pad does not take the OK key.
  reader->set_keypad(0, typed("123"));
  CHECK(error_of(secure(*reader, secure_data(ascii_verify()))) == error::pin_timeout);
}

TEST_CASE("Secure formats the PIN as the structure says: BCD with a length nibble, right justified ASCII") {
  // An ISO 9564 format 2 PIN block: 2L then the BCD digits, padded with F (bmFormatString 89:
  // bytes, position 1, left, BCD; bmPINBlockString 47: a 4-bit length, a 7-byte block;
  // bmPINLengthFormat 04: the length 4 bits into the data).
  auto profile = *cards::builtin_profile("t1-fs");
  profile.pin = hex("24 12 34 FF FF FF FF FF");
  Reader reader(pin_pad_config());
  reader.insert(std::make_unique<cards::IsoCard>(profile));
  reader.handle_message(command(Command::icc_power_on, 0));
  reader.set_keypad(0, typed("1234"));
  PinVerifyStructure format2;
  format2.format_string = 0x89;
  format2.block_string = 0x47;
  format2.length_format = 0x04;
  format2.apdu = hex("00 20 00 80 08 20 FF FF FF FF FF FF FF");
  CHECK(to_hex(data_of(secure(reader, secure_data(format2)))) == "90 00");

  profile.pin = hex("FF FF FF FF 31 32 33 34");
  Reader right(pin_pad_config());
  right.insert(std::make_unique<cards::IsoCard>(profile));
  right.handle_message(command(Command::icc_power_on, 0));
  right.set_keypad(0, typed("1234"));
  PinVerifyStructure justified;
  justified.format_string = 0x86;  // bytes, position 0, right justified, ASCII
  justified.block_string = 0x08;
  justified.apdu = hex("00 20 00 80 08 FF FF FF FF FF FF FF FF");
  CHECK(to_hex(data_of(secure(right, secure_data(justified)))) == "90 00");
  justified.format_string = 0x82;  // left justified: the card sees 31 32 33 34 FF FF FF FF
  CHECK(to_hex(data_of(secure(right, secure_data(justified)))) == "63 C2");
}

TEST_CASE("Secure modifies the PIN: current, new and its confirmation reach CHANGE REFERENCE DATA") {
  auto reader = powered_reader(pin_pad_config());
  KeypadScript change = typed("1234");
  change.new_digits = "5678";
  reader->set_keypad(0, change);
  auto answer = secure(*reader, secure_data(ascii_modify()));
  CHECK(status_of(answer) == kActiveOk);
  CHECK(to_hex(data_of(answer)) == "90 00");
  reader->set_keypad(0, typed("5678"));
  CHECK(to_hex(data_of(secure(*reader, secure_data(ascii_verify())))) == "90 00");
  // The confirmation differs from the new PIN: the pad gives up.
  KeypadScript mistyped = typed("5678");
  mistyped.new_digits = "1111";
  mistyped.confirm_digits = "1112";
  reader->set_keypad(0, mistyped);
  CHECK(error_of(secure(*reader, secure_data(ascii_modify()))) == error::pin_cancelled);
  // A wrong current PIN: the card's 63 Cx.
  KeypadScript wrong = typed("0000");
  wrong.new_digits = "1111";
  reader->set_keypad(0, wrong);
  CHECK(to_hex(data_of(secure(*reader, secure_data(ascii_modify())))) == "63 C2");
}

TEST_CASE(
    "A pad that reads every bMsgIndex takes the layout libccid sends the SPR532: bNumberMessage 00, three indexes") {
  // libccid clears bMsgIndex1..3 and sends all three with bNumberMessage 00 (its
  // BOGUS_PINPAD_FIRMWARE path for the SPR532 and the Cherry ST-2000).
  PinModifyStructure all_indexes = ascii_modify();
  all_indexes.number_message = 3;
  for (auto& index : all_indexes.msg_index) index = 0;
  Bytes data = secure_data(all_indexes);
  constexpr std::size_t number_message_at = 11;  // in abData: CCID 6.1.11, offset 21 of the message
  REQUIRE(data[number_message_at] == 3);
  data[number_message_at] = 0;
  KeypadScript change = typed("1234");
  change.new_digits = "5678";

  ReaderConfig quirky = pin_pad_config();
  quirky.lcd_layout = 0;  // the SPR532 has no display
  quirky.pin_modify_every_message_index = true;
  auto spr532 = powered_reader(quirky);
  spr532->set_keypad(0, change);
  CHECK(to_hex(data_of(secure(*spr532, data))) == "90 00");
  spr532->set_keypad(0, typed("5678"));
  CHECK(to_hex(data_of(secure(*spr532, secure_data(ascii_verify())))) == "90 00");

  // A pad that follows CCID 6.1.11 reads the two extra indexes as the bTeoPrologue, and the
  // APDU two bytes later: its Lc no longer matches what follows.
  quirky.pin_modify_every_message_index = false;
  auto by_the_spec = powered_reader(quirky);
  by_the_spec->set_keypad(0, change);
  const auto refused = secure(*by_the_spec, data);
  CHECK(status_of(refused) == kActiveFailed);
  CHECK(error_of(refused) != 0);
}

TEST_CASE("The Dell SK-3106's pad reads wPINMaxExtraDigit swapped and takes no message, as libccid sends it") {
  ReaderConfig dell;
  dell.pin_support = 0x01;
  dell.pin_max_extra_digit_reversed = true;
  dell.pin_only_without_messages = true;
  auto reader = powered_reader(dell);
  reader->set_keypad(0, typed("1234"));
  // What libccid sends this pad: bNumberMessage 00, the minimum 4 in the low byte, the maximum 8 high.
  PinVerifyStructure as_libccid_sends = ascii_verify();
  as_libccid_sends.number_message = 0;
  as_libccid_sends.min_digits = 8;
  as_libccid_sends.max_digits = 4;
  CHECK(to_hex(data_of(secure(*reader, secure_data(as_libccid_sends)))) == "90 00");
  // The structure as CCID 6.1.11 writes it: to this firmware a minimum of 8 above a maximum of 4.
  PinVerifyStructure by_the_spec = ascii_verify();
  by_the_spec.number_message = 0;
  CHECK(error_of(secure(*reader, secure_data(by_the_spec))) == 15);  // wPINMaxExtraDigit's offset
  // A message asked for: refused at bNumberMessage's offset.
  as_libccid_sends.number_message = 1;
  CHECK(error_of(secure(*reader, secure_data(as_libccid_sends))) == 18);
}

TEST_CASE("Secure is refused with CMD_NOT_SUPPORTED where bPINSupport does not offer the operation") {
  auto none = powered_reader({});
  none->set_keypad(0, typed("1234"));
  auto answer = secure(*none, secure_data(ascii_verify()));
  CHECK(type_of(answer) == 0x80);
  CHECK(status_of(answer) == kActiveFailed);
  CHECK(error_of(answer) == error::cmd_not_supported);
  auto verify_only = powered_reader(pin_pad_config(0x01));
  verify_only->set_keypad(0, typed("1234"));
  CHECK(to_hex(data_of(secure(*verify_only, secure_data(ascii_verify())))) == "90 00");
  CHECK(error_of(secure(*verify_only, secure_data(ascii_modify()))) == error::cmd_not_supported);
  // bPINOperation 2..6 (TPDU-level continuation, cancel): not offered by this reader.
  CHECK(error_of(secure(*verify_only, hex("04"))) == error::cmd_not_supported);
}

TEST_CASE("Secure with a malformed structure names the offset of the field at fault") {
  auto reader = powered_reader(pin_pad_config());
  reader->set_keypad(0, typed("1234"));
  const auto error_for = [&](const Bytes& data) { return error_of(secure(*reader, data)); };
  PinVerifyStructure s;
  s.apdu = hex("00 20 00 80 08 FF FF FF FF FF FF FF FF");
  CHECK(to_hex(data_of(secure(*reader, secure_data(s)))) == "63 C2");  // well formed: 1234 padded with FF
  {
    auto bad = s;
    bad.format_string = 0x83;  // RFU PIN format
    CHECK(error_for(secure_data(bad)) == 12);
  }
  {
    auto bad = s;
    bad.block_string = 0x09;  // a 9-byte block in 8 bytes of data
    CHECK(error_for(secure_data(bad)) == 13);
    bad.block_string = 0x02;  // too small for 8 ASCII digits
    CHECK(error_for(secure_data(bad)) == 13);
  }
  {
    auto bad = s;
    bad.length_format = 0x20;  // RFU bit
    CHECK(error_for(secure_data(bad)) == 14);
    bad.length_format = 0x0F;  // a 4-bit length at bit 15 of 8 bytes is fine; at byte 15 it is not
    bad.block_string = 0x48;
    bad.length_format = 0x1F;
    CHECK(error_for(secure_data(bad)) == 14);
  }
  {
    auto bad = s;
    bad.min_digits = 9;  // minimum above maximum
    CHECK(error_for(secure_data(bad)) == 15);
    bad.min_digits = 0;
    bad.max_digits = 0;
    CHECK(error_for(secure_data(bad)) == 15);
  }
  {
    auto bad = s;
    bad.entry_validation = 0x00;
    CHECK(error_for(secure_data(bad)) == 17);
    bad.entry_validation = 0x08;
    CHECK(error_for(secure_data(bad)) == 17);
  }
  {
    auto bad = s;
    bad.number_message = 0x04;
    CHECK(error_for(secure_data(bad)) == 18);
    bad.number_message = 0x01;
    bad.msg_index = 0x03;  // the display knows messages 0 to 2
    CHECK(error_for(secure_data(bad)) == 21);
  }
  {
    auto bad = s;
    bad.apdu = hex("00 20 00 80");  // no Lc
    CHECK(error_for(secure_data(bad)) == 25);
    bad.apdu = hex("00 20 00 80 09 FF FF FF FF FF FF FF FF");  // Lc says 9
    CHECK(error_for(secure_data(bad)) == 29);
  }
  Bytes truncated = secure_data(s);
  truncated.resize(12);
  CHECK(error_for(truncated) == error::offset_length);
  CHECK(error_for(hex("07")) == 10);  // bPINOperation beyond 6
  CHECK(error_for({}) == error::offset_length);
  CHECK(error_of(reader->handle_message(command(Command::secure, 1, secure_data(s), 0, 0, 0x01, 0x00))) ==
        error::offset_byte8);
  // The modification structure's own fields.
  PinModifyStructure m = ascii_modify();
  m.confirm_pin = 0x04;
  CHECK(error_for(secure_data(m)) == 19);
  m = ascii_modify();
  m.block_string = 0x04;
  m.max_digits = 4;
  m.apdu = hex("00 24 00 80 08 FF FF FF FF FF FF FF FF");
  m.insertion_offset_new = 6;  // a 4-byte block at 6 in 8 bytes
  CHECK(error_for(secure_data(m)) == 16);
  m.insertion_offset_new = 4;
  m.insertion_offset_old = 5;
  CHECK(error_for(secure_data(m)) == 15);
  m = ascii_modify();
  m.entry_validation = 0;
  CHECK(error_for(secure_data(m)) == 20);
  m = ascii_modify();
  m.number_message = 9;
  CHECK(error_for(secure_data(m)) == 21);
}

TEST_CASE("Secure without a powered card fails with ICC_MUTE after the structure is checked") {
  Reader reader(pin_pad_config());
  reader.set_keypad(0, typed("1234"));
  auto answer = secure(reader, secure_data(ascii_verify()));
  CHECK(status_of(answer) == kAbsentFailed);
  CHECK(error_of(answer) == error::icc_mute);
}

TEST_CASE("Secure reaches the card at every exchange level and protocol") {
  SUBCASE("extended APDU level") {
    auto config = pin_pad_config();
    config.set_exchange_level(ExchangeLevel::extended_apdu);
    auto reader = powered_reader(config);
    reader->set_keypad(0, typed("1234"));
    CHECK(to_hex(data_of(secure(*reader, secure_data(ascii_verify())))) == "90 00");
  }
  SUBCASE("TPDU level, T=0: the VERIFY TPDU") {
    auto config = pin_pad_config();
    config.set_exchange_level(ExchangeLevel::tpdu);
    auto reader = powered_reader(config, "t0-basic");
    reader->set_keypad(0, typed("1234"));
    CHECK(to_hex(data_of(secure(*reader, secure_data(ascii_verify())))) == "90 00");
  }
  SUBCASE("TPDU level, T=1: an I-block with the host's prologue, the card's block back") {
    auto config = pin_pad_config();
    config.set_exchange_level(ExchangeLevel::tpdu);
    auto reader = powered_reader(config, "t1-fs");
    reader->set_keypad(0, typed("1234"));
    PinVerifyStructure s = ascii_verify();
    s.teo_prologue[0] = 0x00;  // NAD
    s.teo_prologue[1] = 0x00;  // PCB: I-block N(S)=0
    const Bytes block = data_of(secure(*reader, secure_data(s)));
    // NAD PCB LEN 90 00 LRC: an I-block with N(S)=0 carrying 90 00.
    CHECK(to_hex(block) == "00 00 02 90 00 92");
  }
}

TEST_CASE("a card swap is a removal then an insertion, each a notification of its own") {
  Reader reader;
  reader.insert(cards::make_builtin_card("t1-fs"));
  CHECK(read_interrupt(reader) == hex("50 03"));
  reader.handle_message(command(Command::icc_power_on, 1));

  reader.insert(cards::make_builtin_card("t0-basic"));
  CHECK_FALSE(reader.card_present());  // the first card is out, the second not in yet
  CHECK(read_interrupt(reader) == hex("50 02"));
  CHECK(read_interrupt(reader).empty());
  // The host asks the slot's status: it sees it empty, and the new card goes in.
  CHECK(status_of(reader.handle_message(command(Command::get_slot_status, 2))) == kAbsentOk);
  CHECK(reader.card_present());
  CHECK(read_interrupt(reader) == hex("50 03"));
  const auto atr = reader.handle_message(command(Command::icc_power_on, 3));
  CHECK(data_of(atr) == *cards::builtin_atr("t0-basic"));
}

TEST_CASE("a swap the host only hears about on the interrupt endpoint completes after the hand time") {
  Reader reader;
  reader.insert(cards::make_builtin_card("t1-fs"));
  (void)read_interrupt(reader);
  reader.insert(cards::make_builtin_card("t0-basic"));
  CHECK_FALSE(reader.in_ready_at(kInterruptIn).has_value());  // the removal waits to be read
  CHECK(read_interrupt(reader) == hex("50 02"));
  const auto due = reader.in_ready_at(kInterruptIn);
  REQUIRE(due.has_value());
  std::this_thread::sleep_until(*due);
  CHECK(read_interrupt(reader) == hex("50 03"));
  CHECK(reader.card_present());
}

TEST_CASE("an unread removal is not merged with the insertion that follows it") {
  Reader reader;
  reader.insert(cards::make_builtin_card("t1-fs"));
  (void)read_interrupt(reader);
  CHECK(reader.remove() != nullptr);
  reader.insert(cards::make_builtin_card("t0-basic"));
  CHECK(read_interrupt(reader) == hex("50 02"));
  CHECK(read_interrupt(reader) == hex("50 03"));
  CHECK(read_interrupt(reader).empty());
}

TEST_CASE("removing the card of a swap under way takes back the incoming card") {
  Reader reader;
  reader.insert(cards::make_builtin_card("t1-fs"));
  reader.insert(cards::make_builtin_card("t0-basic"));
  auto back = reader.remove();
  REQUIRE(back != nullptr);
  CHECK(back->reset(cards::ResetKind::cold) == cards::builtin_atr("t0-basic"));
  CHECK_FALSE(reader.card_present());
  reader.handle_message(command(Command::get_slot_status, 1));
  CHECK_FALSE(reader.card_present());
}

}  // namespace readerlab::ccid
