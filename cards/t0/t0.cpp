#include "cards/t0/t0.h"

#include <algorithm>

#include "cards/apdu/apdu.h"
#include "cards/apdu/iso_card.h"

namespace readerlab::cards::t0 {
namespace {

constexpr std::uint8_t kNull = 0x60;            // NULL procedure byte, ISO 7816-3 10.3.3
constexpr std::uint8_t kComplement = 0xFF;      // INS xor FF: one data byte, ISO 7816-3 10.3.3
constexpr std::uint8_t kSw1HighNibble6 = 0x60;  // SW1 is 6x (x != 0) or 9x, ISO 7816-3 10.3.3
constexpr std::uint8_t kSw1HighNibble9 = 0x90;
constexpr std::size_t kHeaderSize = 5;
constexpr std::size_t kMaxP3Data = 256;            // P3 = 00 asks for 256 bytes, ISO 7816-3 10.3.2
constexpr std::uint8_t kSw1BytesRemaining = 0x61;  // ISO 7816-3 12.2.2 / ISO 7816-4 5.1.3
constexpr std::uint8_t kSw1ExactLength = 0x6C;
constexpr std::uint8_t kInsGetResponse = 0xC0;       // ISO 7816-4 7.6.1
constexpr std::uint8_t kInsEnvelope = 0xC2;          // ISO 7816-4:2013 7.6.2 (1995 edition: 7.2)
constexpr std::size_t kMaxEnvelopePiece = 255;       // P3 of a TPDU sending data, ISO 7816-3 10.3.2
constexpr std::size_t kMaxEnvelopedApdu = 65544;     // 4 + 3 + 65535 + 2, ISO 7816-4 5.1
constexpr std::size_t kMaxGetResponses = 65536 + 2;  // one per byte at worst, then stop

bool is_sw1(std::uint8_t byte) {
  const std::uint8_t high = byte & 0xF0;
  return (high == kSw1HighNibble6 && byte != kNull) || high == kSw1HighNibble9;
}

bool invalid_ins(std::uint8_t ins) {
  const std::uint8_t high = ins & 0xF0;
  return high == kSw1HighNibble6 || high == kSw1HighNibble9;
}

// The classes of ISO 7816-4 5.1.1 for interindustry commands: 000x xxxx and 01xx xxxx.
bool interindustry_class(std::uint8_t cla) { return (cla & 0xE0) == 0x00 || (cla & 0xC0) == 0x40; }

// 61xx: xx data bytes wait, 00 for 256 or more (ISO 7816-4 5.1.3).
Bytes bytes_remaining(std::size_t count) {
  return {kSw1BytesRemaining, static_cast<std::uint8_t>(std::min(count, kMaxP3Data) % 256)};
}

// GET RESPONSE keeps the logical channel of the command it belongs to, ISO 7816-4 5.1.1.
std::uint8_t get_response_class(std::uint8_t cla) {
  if ((cla & 0x80) != 0) return 0x00;
  if ((cla & 0xC0) == 0x40) return static_cast<std::uint8_t>(0x40 | (cla & 0x0F));
  return static_cast<std::uint8_t>(cla & 0x03);
}

}  // namespace

Direction iso_direction(const Header& header) {
  const std::uint8_t cla = header[0], ins = header[1], p1 = header[2], p2 = header[3], p3 = header[4];
  auto sending = [p3] { return p3 == 0 ? Direction::none : Direction::to_card; };
  if (cla == 0xFF) return Direction::refuse;
  if ((cla & 0x80) != 0) return ins == 0x10 && cla == 0x80 ? sending() : Direction::refuse;
  switch (ins) {
    case 0xB0:
    case 0xB2:
    case 0x84:
    case 0xCA:
    case 0xC0:  // READ BINARY/RECORD, GET CHALLENGE/DATA/RESPONSE
      return Direction::from_card;
    case 0x70:  // MANAGE CHANNEL: only "open, card assigns" returns a byte
      return p1 == 0x00 && p2 == 0x00 ? Direction::from_card : Direction::none;
    case 0xA4:
    case 0xD6:
    case 0xDC:
    case 0xE2:
    case 0x20:
    case 0x24:
    case 0x2C:
    case 0xDA: return sending();
    default: return Direction::refuse;
  }
}

CardSide::CardSide(Card& card, CardSideOptions options)
    : card_(card),
      options_(std::move(options)),
      envelope_(options_.envelope_state ? *options_.envelope_state : own_envelope_) {
  if (!options_.direction) options_.direction = iso_direction;
}

Bytes CardSide::receive(std::span<const std::uint8_t> wire) {
  const Bytes bytes = from_wire(wire, options_.convention);
  Bytes out;
  for (std::uint8_t byte : bytes) {
    if (phase_ == Phase::silent) break;
    if (phase_ == Phase::header) {
      header_[header_length_++] = byte;
      if (header_length_ == kHeaderSize) {
        header_length_ = 0;
        on_header(out);
      }
      continue;
    }
    data_.push_back(byte);  // Phase::data_to_card
    if (data_.size() == data_expected_) {
      on_all_data(out);
    } else if (options_.one_byte_at_a_time) {
      (void)send_procedure(out, static_cast<std::uint8_t>(header_[1] ^ kComplement));
    }
  }
  return to_wire(out, options_.convention);
}

std::optional<Bytes> CardSide::call_card(const Bytes& apdu) {
  auto response = card_.transmit_apdu(apdu);
  last_status_ = response.status;
  if (response.status != CardStatus::ok || response.data.size() < 2) {
    phase_ = Phase::silent;
    return std::nullopt;
  }
  return std::move(response.data);
}

bool CardSide::send_procedure(Bytes& out, std::uint8_t procedure) {
  if (options_.bad_procedure_byte && !bad_procedure_sent_) {
    bad_procedure_sent_ = true;
    out.push_back(*options_.bad_procedure_byte);
    phase_ = Phase::header;  // the interface device gives up this TPDU
    data_.clear();
    return false;
  }
  out.push_back(procedure);
  return true;
}

void CardSide::send_final(Bytes& out, std::span<const std::uint8_t> status_word) {
  out.insert(out.end(), options_.null_bytes, kNull);
  out.insert(out.end(), status_word.begin(), status_word.end());
  phase_ = Phase::header;
  data_.clear();
}

void CardSide::on_header(Bytes& out) {
  if (options_.mute && headers_answered_ >= options_.headers_before_mute) {
    phase_ = Phase::silent;
    return;
  }
  ++headers_answered_;
  const std::uint8_t ins = header_[1];
  const std::uint8_t p3 = header_[4];
  const Bytes command_header(header_.begin(), header_.begin() + 4);
  if (invalid_ins(ins)) {
    send_final(out, status_only(sw::ins_not_supported));
    return;
  }
  if (envelope_.answer_waits && ins == kInsGetResponse) {
    send_envelope_answer(out);
    return;
  }
  envelope_.answer_waits = false;  // only GET RESPONSE collects it, as an answer the card keeps
  if (takes_envelope()) {
    if (p3 == 0) {
      on_envelope_end(out);
      return;
    }
    expect_data(out, ins, p3);
    return;
  }
  envelope_.command.clear();  // any other command ends a chain
  switch (options_.direction(header_)) {
    case Direction::none:
    case Direction::refuse: {
      const auto response = call_card(command_header);
      if (response) send_final(out, std::span(*response).last(2));
      return;
    }
    case Direction::from_card: {
      Bytes apdu = command_header;
      apdu.push_back(p3);
      const auto response = call_card(apdu);
      if (!response) return;
      const auto status_word = std::span(*response).last(2);
      const std::size_t size = response->size() - 2;
      const std::size_t expected = p3 == 0 ? kMaxP3Data : p3;
      if (size == 0) {
        send_final(out, status_word);
        return;
      }
      if (size != expected) {  // a card that did not say 6Cxx itself
        send_final(out, status_only(static_cast<std::uint16_t>(sw::exact_length |
                                                               std::min<std::size_t>(size, kMaxP3Data) % 256)));
        return;
      }
      send_data(out, std::span(*response).first(size), status_word);
      return;
    }
    case Direction::to_card:
      if (p3 == 0) {  // no data: case 1
        const auto response = call_card(command_header);
        if (response) send_final(out, std::span(*response).last(2));
        return;
      }
      expect_data(out, ins, p3);
      return;
  }
}

// The card takes P3 data bytes next: all at once after INS, or one at a time after ~INS.
void CardSide::expect_data(Bytes& out, std::uint8_t ins, std::uint8_t p3) {
  data_.clear();
  data_expected_ = p3;
  phase_ = Phase::data_to_card;
  (void)send_procedure(out, options_.one_byte_at_a_time ? static_cast<std::uint8_t>(ins ^ kComplement) : ins);
}

void CardSide::send_data(Bytes& out, std::span<const std::uint8_t> data, std::span<const std::uint8_t> status_word) {
  out.insert(out.end(), options_.null_bytes, kNull);  // the card computed before answering
  const std::uint8_t ins = header_[1];
  const std::uint8_t procedure = options_.one_byte_at_a_time ? static_cast<std::uint8_t>(ins ^ kComplement) : ins;
  for (std::size_t i = 0; i < data.size(); ++i) {
    if ((i == 0 || options_.one_byte_at_a_time) && !send_procedure(out, procedure)) return;
    out.push_back(data[i]);
  }
  out.insert(out.end(), status_word.begin(), status_word.end());
  phase_ = Phase::header;
}

bool CardSide::takes_envelope() const {
  return options_.envelope && header_[1] == kInsEnvelope && interindustry_class(header_[0]);
}

// A piece of the command APDU: kept, and 9000 asks for the next (ISO 7816-4:1995 A.3E.2).
void CardSide::on_envelope_piece(Bytes& out) {
  const bool too_long = envelope_.command.size() + data_.size() > kMaxEnvelopedApdu;
  if (too_long) {
    envelope_.command.clear();
  } else {
    envelope_.command.insert(envelope_.command.end(), data_.begin(), data_.end());
  }
  send_final(out, status_only(too_long ? sw::wrong_length : sw::ok));
}

// The empty ENVELOPE: the gathered APDU goes to the card; answer data waits for GET RESPONSE.
void CardSide::on_envelope_end(Bytes& out) {
  if (envelope_.command.empty()) {  // an end without a chain
    send_final(out, status_only(sw::wrong_length));
    return;
  }
  const Bytes apdu = std::move(envelope_.command);
  envelope_.command.clear();
  const auto response = call_card(apdu);
  if (!response) return;
  const std::size_t size = response->size() - 2;
  if (size == 0) {
    send_final(out, *response);
    return;
  }
  envelope_.answer.assign(response->begin(), response->end() - 2);
  envelope_.status_word.assign(response->end() - 2, response->end());
  envelope_.answer_waits = true;
  send_final(out, bytes_remaining(size));
}

// GET RESPONSE for the answer to an enveloped APDU: Le bytes and 61xx while more waits, the
// card's own status word with the last part, 6Cxx for an Le beyond what is left (ISO 7816-3
// 10.3.3), which keeps the answer waiting.
void CardSide::send_envelope_answer(Bytes& out) {
  if (header_[2] != 0 || header_[3] != 0) {
    send_final(out, status_only(sw::incorrect_p1_p2));
    return;
  }
  const std::size_t le = header_[4] == 0 ? kMaxP3Data : header_[4];
  if (le > envelope_.answer.size()) {
    send_final(out, status_only(static_cast<std::uint16_t>(sw::exact_length | envelope_.answer.size())));
    return;
  }
  const Bytes part(envelope_.answer.begin(), envelope_.answer.begin() + static_cast<std::ptrdiff_t>(le));
  envelope_.answer.erase(envelope_.answer.begin(), envelope_.answer.begin() + static_cast<std::ptrdiff_t>(le));
  envelope_.answer_waits = !envelope_.answer.empty();
  const Bytes status_word = envelope_.answer_waits ? bytes_remaining(envelope_.answer.size()) : envelope_.status_word;
  send_data(out, part, status_word);
}

void CardSide::on_all_data(Bytes& out) {
  if (takes_envelope()) {
    on_envelope_piece(out);
    data_.clear();
    return;
  }
  Bytes apdu(header_.begin(), header_.end());  // CLA INS P1 P2 Lc: P3 is Lc here
  apdu.insert(apdu.end(), data_.begin(), data_.end());
  data_.clear();
  phase_ = Phase::header;
  const auto response = call_card(apdu);
  // Response data cannot travel in this TPDU; a T=0 card keeps it for GET RESPONSE (61xx).
  if (response) send_final(out, std::span(*response).last(2));
}

std::string to_string(Error error) {
  switch (error) {
    case Error::none: return "no error";
    case Error::malformed_command: return "malformed command";
    case Error::invalid_ins: return "INS 6x or 9x cannot be sent under T=0";
    case Error::command_too_long: return "command data longer than 255 bytes without ENVELOPE";
    case Error::procedure_byte_conflict: return "procedure byte conflict";
    case Error::mute: return "card mute";
    case Error::card_deactivated: return "card deactivated";
  }
  return "unknown T=0 error";
}

namespace {

// Why a TPDU cannot go on the line, or none: a 5-byte header, then no data or exactly P3
// bytes, and an INS that is not a procedure byte (ISO 7816-3 10.3.2).
Error check_tpdu(std::span<const std::uint8_t> tpdu) {
  if (tpdu.size() < kHeaderSize) return Error::malformed_command;
  const auto outgoing = tpdu.subspan(kHeaderSize);
  if (!outgoing.empty() && outgoing.size() != tpdu[4]) return Error::malformed_command;
  if (invalid_ins(tpdu[1])) return Error::invalid_ins;
  return Error::none;
}

}  // namespace

Result InterfaceSide::transmit_tpdu(std::span<const std::uint8_t> tpdu, CardSide& card) {
  Result result;
  result.tpdus = 1;
  if (const Error refused = check_tpdu(tpdu); refused != Error::none) {
    result.error = refused;
    return result;
  }
  const std::uint8_t ins = tpdu[1];
  const std::uint8_t p3 = tpdu[4];
  const auto outgoing = tpdu.subspan(kHeaderSize);
  const bool sending = !outgoing.empty();
  const std::size_t expected_in = sending ? 0 : (p3 == 0 ? kMaxP3Data : p3);
  std::size_t sent = 0;
  Bytes received;

  Bytes incoming = from_wire(card.receive(to_wire(tpdu.first(kHeaderSize), options_.convention)), options_.convention);
  std::size_t position = 0;
  auto fail = [&](Error error) {
    if (error == Error::mute && card.last_card_status() == CardStatus::deactivated) {
      error = Error::card_deactivated;
    }
    result.error = error;
    result.response.clear();
    return result;
  };
  auto send = [&](std::span<const std::uint8_t> bytes) {
    const Bytes answer = from_wire(card.receive(to_wire(bytes, options_.convention)), options_.convention);
    incoming.insert(incoming.end(), answer.begin(), answer.end());
  };

  while (true) {
    if (position >= incoming.size()) return fail(Error::mute);
    const std::uint8_t procedure = incoming[position++];
    if (procedure == kNull) {
      if (++result.null_bytes > options_.max_null_bytes) return fail(Error::mute);
      continue;
    }
    if (is_sw1(procedure)) {
      if (position >= incoming.size()) return fail(Error::mute);
      received.push_back(procedure);
      received.push_back(incoming[position++]);
      result.response = std::move(received);
      return result;
    }
    const bool all = procedure == ins;
    const bool one = procedure == static_cast<std::uint8_t>(ins ^ kComplement);
    if (!all && !one) return fail(Error::procedure_byte_conflict);
    if (sending) {
      if (sent == outgoing.size()) return fail(Error::procedure_byte_conflict);
      const std::size_t count = all ? outgoing.size() - sent : 1;
      const auto chunk = outgoing.subspan(sent, count);
      sent += count;
      send(chunk);
    } else {
      if (received.size() == expected_in) return fail(Error::procedure_byte_conflict);
      const std::size_t count = all ? expected_in - received.size() : 1;
      for (std::size_t i = 0; i < count; ++i) {
        if (position >= incoming.size()) return fail(Error::mute);
        received.push_back(incoming[position++]);
      }
    }
  }
}

namespace {

// The first TPDU of a command APDU, ISO 7816-3 12.2: P3 = Lc for cases 3 and 4, P3 = Le for
// case 2 (00 for 256, and for more, then GET RESPONSE), P3 = 00 for case 1.
Bytes first_tpdu(const CommandApdu& command) {
  Bytes tpdu = {command.cla, command.ins, command.p1, command.p2, 0x00};
  if (!command.data.empty()) {
    tpdu[4] = static_cast<std::uint8_t>(command.data.size());
    tpdu.insert(tpdu.end(), command.data.begin(), command.data.end());
  } else if (command.ne) {
    tpdu[4] = static_cast<std::uint8_t>(*command.ne >= kMaxP3Data ? 0 : *command.ne);
  }
  return tpdu;
}

// The TPDUs of one APDU, their NULL bytes and their number added up in `total`.
struct TpduRunner {
  InterfaceSide& side;
  CardSide& card;
  Result& total;

  Result operator()(const Bytes& tpdu) const {
    Result step = side.transmit_tpdu(tpdu, card);
    total.null_bytes += step.null_bytes;
    total.tpdus += step.tpdus;
    return step;
  }
  // The TPDU, issued again with P3 = xx when the card answers 6Cxx (wrong Le, ISO 7816-3 12.2.2).
  Result with_exact_length(Bytes& tpdu) const {
    Result step = (*this)(tpdu);
    if (step.error == Error::none && step.response.size() == 2 && step.response[0] == kSw1ExactLength) {
      tpdu[4] = step.response[1];
      step = (*this)(tpdu);
    }
    return step;
  }
};

// Response data so far and the status word that ended it.
struct Answer {
  Bytes data;
  std::uint8_t sw1 = 0, sw2 = 0;

  void add(const Bytes& response) {  // data, then SW1 SW2
    data.insert(data.end(), response.begin(), response.end() - 2);
    sw1 = response[response.size() - 2];
    sw2 = response.back();
  }
};

// 61xx: xx (00 = 256 or more) bytes wait; GET RESPONSE until Ne bytes are in, ISO 7816-3 12.2.
Error get_remaining(const TpduRunner& run, std::uint8_t get_response_cla, std::size_t ne, Answer& answer) {
  for (std::size_t round = 0; answer.sw1 == kSw1BytesRemaining && answer.data.size() < ne && round < kMaxGetResponses;
       ++round) {
    const std::size_t available = answer.sw2 == 0 ? kMaxP3Data : answer.sw2;
    const std::size_t le = std::min(available, ne - answer.data.size());
    Bytes get_response = {get_response_cla, kInsGetResponse, 0x00, 0x00,
                          static_cast<std::uint8_t>(le >= kMaxP3Data ? 0 : le)};
    const Result step = run.with_exact_length(get_response);
    if (step.error != Error::none) return step.error;
    const std::size_t got = step.response.size() - 2;
    answer.add(step.response);
    if (got == 0) break;
  }
  return Error::none;
}

}  // namespace

Result InterfaceSide::transmit(std::span<const std::uint8_t> apdu, CardSide& card) {
  Result total;
  const auto command = parse_command_apdu(apdu);
  if (!command) {
    total.error = Error::malformed_command;
    return total;
  }
  if (command->data.size() > kShortMaxNc) {
    if (options_.envelope) return transmit_enveloped(apdu, *command, card);
    total.error = Error::command_too_long;
    return total;
  }
  const TpduRunner run{*this, card, total};
  Bytes tpdu = first_tpdu(*command);
  const bool case_2 = command->data.empty() && command->ne.has_value();
  const Result step = case_2 ? run.with_exact_length(tpdu) : run(tpdu);
  if (step.error != Error::none) {
    total.error = step.error;
    return total;
  }
  Answer answer;
  answer.add(step.response);
  if (command->ne) {
    const std::uint8_t get_response_cla = options_.get_response_class.value_or(get_response_class(command->cla));
    if (const Error failed = get_remaining(run, get_response_cla, *command->ne, answer); failed != Error::none) {
      total.error = failed;
      return total;
    }
  }
  answer.data.push_back(answer.sw1);
  answer.data.push_back(answer.sw2);
  total.response = std::move(answer.data);
  return total;
}

// ISO/IEC 7816-4:1995 A.3E.2 and A.4E.2: the whole command APDU in ENVELOPE pieces of at most
// 255 bytes, an empty ENVELOPE to end it, then GET RESPONSE after 61xx as for case 4.
Result InterfaceSide::transmit_enveloped(std::span<const std::uint8_t> apdu, const CommandApdu& command,
                                         CardSide& card) {
  Result total;
  const TpduRunner run{*this, card, total};
  const std::uint8_t cla = options_.envelope_class.value_or(command.cla);
  auto fail = [&](Error error) {
    total.error = error;
    total.response.clear();
    return total;
  };
  for (std::size_t sent = 0; sent < apdu.size();) {
    const std::size_t piece = std::min(kMaxEnvelopePiece, apdu.size() - sent);
    Bytes tpdu = {cla, kInsEnvelope, 0x00, 0x00, static_cast<std::uint8_t>(piece)};
    tpdu.insert(tpdu.end(), apdu.begin() + static_cast<std::ptrdiff_t>(sent),
                apdu.begin() + static_cast<std::ptrdiff_t>(sent + piece));
    sent += piece;
    Result step = run(tpdu);
    if (step.error != Error::none) return fail(step.error);
    if (step.response != status_only(sw::ok)) {  // refused (6D00 without ENVELOPE, 6700, ...)
      total.response = std::move(step.response);
      return total;
    }
  }
  const Result end = run(Bytes{cla, kInsEnvelope, 0x00, 0x00, 0x00});
  if (end.error != Error::none) return fail(end.error);
  Answer answer;
  answer.add(end.response);
  if (command.ne) {
    const std::uint8_t get_response_cla = options_.get_response_class.value_or(get_response_class(command.cla));
    if (const Error failed = get_remaining(run, get_response_cla, *command.ne, answer); failed != Error::none) {
      return fail(failed);
    }
  }
  answer.data.push_back(answer.sw1);
  answer.data.push_back(answer.sw2);
  total.response = std::move(answer.data);
  return total;
}

CardSideOptions card_side_options(Card& card, Convention convention) {
  CardSideOptions options;
  options.null_bytes = card.protocol_behaviour().t0_null_bytes;
  options.envelope = card.protocol_behaviour().t0_envelope;
  options.convention = convention;
  const ProtocolFaults faults = card.take_protocol_faults();
  options.bad_procedure_byte = faults.bad_procedure_byte;
  options.mute = faults.mute_exchanges > 0;
  return options;
}

Result exchange(Card& card, std::span<const std::uint8_t> tpdu, Convention convention) {
  CardSide card_side(card, card_side_options(card, convention));
  InterfaceSide interface_side({card_side.options().convention});
  return interface_side.transmit_tpdu(tpdu, card_side);
}

Result transmit_apdu(Card& card, std::span<const std::uint8_t> apdu, Convention convention) {
  CardSide card_side(card, card_side_options(card, convention));
  InterfaceOptions reader_options;
  reader_options.convention = card_side.options().convention;
  reader_options.envelope = true;
  InterfaceSide interface_side(reader_options);
  return interface_side.transmit(apdu, card_side);
}

}  // namespace readerlab::cards::t0
