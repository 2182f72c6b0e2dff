#include "cards/apdu/iso_card.h"

#include <algorithm>

namespace readerlab::cards {
namespace {

constexpr std::size_t kHeaderLength = 4;             // CLA INS P1 P2, ISO 7816-4 5.1
constexpr std::size_t kShortMaxNe = 256;             // short Le=00, ISO 7816-4 5.1
constexpr std::size_t kExtendedMaxNe = 65536;        // extended Le=0000, ISO 7816-4 5.1

// Status words, ISO 7816-4 5.1.3 (Tables 5 and 6).
constexpr std::uint16_t kSwOk = 0x9000;
constexpr std::uint16_t kSwBytesRemaining = 0x6100;          // 61xx: xx bytes still available
constexpr std::uint16_t kSwEndReachedEarly = 0x6282;         // end of file before Ne bytes
constexpr std::uint16_t kSwVerificationFailed = 0x63C0;      // 63Cx: x further tries allowed
constexpr std::uint16_t kSwWrongLength = 0x6700;
constexpr std::uint16_t kSwLogicalChannelUnsupported = 0x6881;
constexpr std::uint16_t kSwSecureMessagingUnsupported = 0x6882;
constexpr std::uint16_t kSwChainingUnsupported = 0x6884;
constexpr std::uint16_t kSwSecurityNotSatisfied = 0x6982;
constexpr std::uint16_t kSwAuthenticationBlocked = 0x6983;
constexpr std::uint16_t kSwConditionsNotSatisfied = 0x6985;
constexpr std::uint16_t kSwNoCurrentEf = 0x6986;
constexpr std::uint16_t kSwFileNotFound = 0x6A82;
constexpr std::uint16_t kSwNotEnoughMemoryInFile = 0x6A84;
constexpr std::uint16_t kSwIncorrectP1P2 = 0x6A86;
constexpr std::uint16_t kSwReferencedDataNotFound = 0x6A88;
constexpr std::uint16_t kSwOffsetOutsideEf = 0x6B00;
constexpr std::uint16_t kSwInsNotSupported = 0x6D00;
constexpr std::uint16_t kSwClaNotSupported = 0x6E00;

// Instruction bytes, ISO 7816-4 section 7.
constexpr std::uint8_t kInsSelect = 0xA4;        // 7.1.1
constexpr std::uint8_t kInsReadBinary = 0xB0;    // 7.2.3
constexpr std::uint8_t kInsUpdateBinary = 0xD6;  // 7.2.5
constexpr std::uint8_t kInsGetChallenge = 0x84;  // 7.5.3
constexpr std::uint8_t kInsVerify = 0x20;        // 7.5.6
constexpr std::uint8_t kInsGetData = 0xCA;       // 7.4.2
constexpr std::uint8_t kInsGetResponse = 0xC0;   // 7.6.1
constexpr std::uint8_t kClaProprietary = 0x80;   // b8=1: proprietary class, ISO 7816-4 5.1.1
constexpr std::uint8_t kInsEcho = 0x10;          // readerlab's own, in the proprietary class

constexpr std::uint8_t kClaInvalid = 0xFF;       // ISO 7816-4 5.1.1

// SELECT parameters, ISO 7816-4 7.1.1 (Tables 39 and 40).
constexpr std::uint8_t kSelectByFid = 0x00;
constexpr std::uint8_t kSelectEfUnderCurrentDf = 0x02;
constexpr std::uint8_t kSelectByDfName = 0x04;
constexpr std::uint8_t kOccurrenceMask = 0x03;
constexpr std::uint8_t kOccurrenceFirst = 0x00;
constexpr std::uint8_t kOccurrenceNext = 0x02;
constexpr std::uint8_t kAnswerMask = 0x0C;
constexpr std::uint8_t kAnswerFci = 0x00;
constexpr std::uint8_t kAnswerFcp = 0x04;
constexpr std::uint8_t kAnswerFmd = 0x08;
constexpr std::uint8_t kAnswerNone = 0x0C;
constexpr std::uint16_t kMasterFileFid = 0x3F00;  // ISO 7816-4 5.3.1.1

// File control tags, ISO 7816-4 5.3.3 (Table 12).
constexpr std::uint8_t kTagFcpTemplate = 0x62;
constexpr std::uint8_t kTagFmdTemplate = 0x64;
constexpr std::uint8_t kTagFciTemplate = 0x6F;
constexpr std::uint8_t kTagDataSize = 0x80;
constexpr std::uint8_t kTagFileDescriptor = 0x82;
constexpr std::uint8_t kTagFileIdentifier = 0x83;
constexpr std::uint8_t kTagDfName = 0x84;
constexpr std::uint8_t kTagShortEfIdentifier = 0x88;
constexpr std::uint8_t kTagProprietaryInformation = 0xA5;
constexpr std::uint8_t kTagApplicationLabel = 0x50;  // ISO 7816-4 8.2.1.2 (Table 85)
// File descriptor byte, ISO 7816-4 5.3.3 (Table 14).
constexpr std::uint8_t kDescriptorDf = 0x38;
constexpr std::uint8_t kDescriptorTransparentEf = 0x01;

// READ/UPDATE BINARY P1, ISO 7816-4 7.2.2: b8=1 means b5-b1 is a short EF identifier.
constexpr std::uint8_t kP1ShortEfFlag = 0x80;
constexpr std::uint8_t kP1ShortEfRfuBits = 0x60;
constexpr std::uint8_t kP1ShortEfMask = 0x1F;

constexpr std::uint8_t kVerifyResetStatus = 0xFF;  // P1=FF, no data, ISO 7816-4 7.5.6

Bytes status(std::uint16_t sw) {
  return {static_cast<std::uint8_t>(sw >> 8), static_cast<std::uint8_t>(sw & 0xFF)};
}

Bytes with_status(Bytes data, std::uint16_t sw) {
  data.push_back(static_cast<std::uint8_t>(sw >> 8));
  data.push_back(static_cast<std::uint8_t>(sw & 0xFF));
  return data;
}

// BER-TLV with a one-byte tag and a definite length, ISO 7816-4 5.2.2.
void append_tlv(Bytes& out, std::uint8_t tag, std::span<const std::uint8_t> value) {
  out.push_back(tag);
  const std::size_t length = value.size();
  if (length < 0x80) {
    out.push_back(static_cast<std::uint8_t>(length));
  } else if (length <= 0xFF) {
    out.push_back(0x81);
    out.push_back(static_cast<std::uint8_t>(length));
  } else {
    out.push_back(0x82);
    out.push_back(static_cast<std::uint8_t>(length >> 8));
    out.push_back(static_cast<std::uint8_t>(length & 0xFF));
  }
  out.insert(out.end(), value.begin(), value.end());
}

Bytes u16_bytes(std::size_t value) {
  return {static_cast<std::uint8_t>((value >> 8) & 0xFF), static_cast<std::uint8_t>(value & 0xFF)};
}

bool starts_with(const Bytes& whole, std::span<const std::uint8_t> prefix) {
  return prefix.size() <= whole.size() && std::equal(prefix.begin(), prefix.end(), whole.begin());
}

}  // namespace

std::optional<CommandApdu> parse_command_apdu(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < kHeaderLength) return std::nullopt;
  CommandApdu apdu;
  apdu.cla = bytes[0];
  apdu.ins = bytes[1];
  apdu.p1 = bytes[2];
  apdu.p2 = bytes[3];
  const auto body = bytes.subspan(kHeaderLength);
  if (body.empty()) return apdu;  // case 1

  if (body.size() == 1) {  // case 2S: Le only
    apdu.ne = body[0] ? std::size_t{body[0]} : kShortMaxNe;
    return apdu;
  }
  if (body[0] != 0) {  // short Lc
    const std::size_t lc = body[0];
    if (body.size() != 1 + lc && body.size() != 2 + lc) return std::nullopt;
    apdu.data.assign(body.begin() + 1, body.begin() + 1 + static_cast<std::ptrdiff_t>(lc));
    if (body.size() == 2 + lc) {  // case 4S
      const std::uint8_t le = body.back();
      apdu.ne = le ? std::size_t{le} : kShortMaxNe;
    }
    return apdu;
  }

  // A first body byte of 00 with more bytes after it opens an extended field.
  if (body.size() < 3) return std::nullopt;
  apdu.extended = true;
  const std::size_t first_field = (std::size_t{body[1]} << 8) | body[2];
  if (body.size() == 3) {  // case 2E
    apdu.ne = first_field ? first_field : kExtendedMaxNe;
    return apdu;
  }
  const std::size_t lc = first_field;
  if (lc == 0) return std::nullopt;
  if (body.size() != 3 + lc && body.size() != 5 + lc) return std::nullopt;
  apdu.data.assign(body.begin() + 3, body.begin() + 3 + static_cast<std::ptrdiff_t>(lc));
  if (body.size() == 5 + lc) {  // case 4E
    const std::size_t le = (std::size_t{body[body.size() - 2]} << 8) | body.back();
    apdu.ne = le ? le : kExtendedMaxNe;
  }
  return apdu;
}

IsoCard::IsoCard(CardProfile profile) : IsoCard(profile, profile.challenge_seed) {}

IsoCard::IsoCard(CardProfile profile, std::uint64_t challenge_seed)
    : profile_(std::move(profile)),
      challenge_generator_(challenge_seed),
      pin_tries_left_(profile_.pin_tries) {}

std::string IsoCard::name() const { return profile_.name; }

std::optional<Bytes> IsoCard::reset(ResetKind /*kind: cold and warm give the same ATR*/) {
  powered_ = true;
  reset_session_state();
  // Without PPS the card works in the first protocol its ATR offers, ISO 7816-3 8.2.3.
  selected_protocol_ = profile_.protocols.empty() ? std::nullopt
                                                  : std::optional(profile_.protocols.front());
  if (profile_.mute) return std::nullopt;
  return profile_.atr;
}

void IsoCard::deactivate() {
  powered_ = false;
  selected_protocol_.reset();
  reset_session_state();
}

void IsoCard::select_protocol(Protocol protocol) {
  // A protocol the ATR does not offer would be a reader bug; the card keeps its current one
  // so the reader sees the consequence at the next exchange rather than here.
  if (std::find(profile_.protocols.begin(), profile_.protocols.end(), protocol) !=
      profile_.protocols.end()) {
    selected_protocol_ = protocol;
  }
}

CardResponse IsoCard::transmit_apdu(std::span<const std::uint8_t> command) {
  if (!powered_) return {CardStatus::deactivated, {}};
  if (profile_.mute) return {CardStatus::mute, {}};
  auto parsed = parse_command_apdu(command);
  if (!parsed) {
    pending_response_.clear();
    return {CardStatus::ok, status(kSwWrongLength)};
  }
  return {CardStatus::ok, dispatch(*parsed)};
}

std::optional<Bytes> IsoCard::file_contents(std::uint16_t fid) const {
  for (const auto& file : profile_.files) {
    if (file.fid == fid) return file.contents;
  }
  return std::nullopt;
}

void IsoCard::reset_session_state() {
  current_application_.reset();
  current_file_.reset();
  pin_verified_ = false;
  pending_response_.clear();
}

Bytes IsoCard::dispatch(const Command& command) {
  // Only GET RESPONSE may collect what an earlier answer left pending.
  if (command.ins != kInsGetResponse) pending_response_.clear();

  const std::uint8_t cla = command.cla;
  if (cla == kClaInvalid) return status(kSwClaNotSupported);
  if (cla & 0x80) {
    if (cla != kClaProprietary) return status(kSwClaNotSupported);
    if (command.ins == kInsEcho) return echo(command);
    return status(kSwInsNotSupported);
  }

  // Interindustry classes, ISO 7816-4 5.1.1.
  bool chaining = false;
  bool secure_messaging = false;
  unsigned logical_channel = 0;
  if ((cla & 0xE0) == 0x00) {  // first interindustry values: 000x xxxx
    chaining = (cla & 0x10) != 0;
    secure_messaging = (cla & 0x0C) != 0;
    logical_channel = cla & 0x03;
  } else if ((cla & 0xC0) == 0x40) {  // further interindustry values: 01xx xxxx
    secure_messaging = (cla & 0x20) != 0;
    chaining = (cla & 0x10) != 0;
    logical_channel = 4u + (cla & 0x0Fu);
  } else {  // 001x xxxx is reserved
    return status(kSwClaNotSupported);
  }
  if (logical_channel != 0) return status(kSwLogicalChannelUnsupported);
  if (secure_messaging) return status(kSwSecureMessagingUnsupported);
  if (chaining) return status(kSwChainingUnsupported);

  switch (command.ins) {
    case kInsSelect: return select(command);
    case kInsReadBinary: return read_binary(command);
    case kInsUpdateBinary: return update_binary(command);
    case kInsGetChallenge: return get_challenge(command);
    case kInsVerify: return verify(command);
    case kInsGetData: return get_data(command);
    case kInsGetResponse: return get_response(command);
    default: return status(kSwInsNotSupported);
  }
}

Bytes IsoCard::answer_with_limit(Bytes data, std::size_t ne) {
  if (data.size() <= ne) return with_status(std::move(data), kSwOk);
  pending_response_.assign(data.begin() + static_cast<std::ptrdiff_t>(ne), data.end());
  data.resize(ne);
  const std::size_t left = pending_response_.size();
  const auto left_byte = static_cast<std::uint16_t>(left >= 256 ? 0 : left);  // 00: 256 or more
  return with_status(std::move(data), static_cast<std::uint16_t>(kSwBytesRemaining | left_byte));
}

Bytes IsoCard::select(const Command& command) {
  const std::uint8_t occurrence = command.p2 & kOccurrenceMask;
  const std::uint8_t answer = command.p2 & kAnswerMask;
  if ((command.p2 & 0xF0) != 0) return status(kSwIncorrectP1P2);

  std::optional<std::size_t> application;  // nullopt with no file: the MF
  std::optional<std::size_t> file;
  if (command.p1 == kSelectByFid || command.p1 == kSelectEfUnderCurrentDf) {
    if (occurrence != kOccurrenceFirst) return status(kSwIncorrectP1P2);
    const bool mf_by_empty_data = command.p1 == kSelectByFid && command.data.empty();
    if (!mf_by_empty_data) {
      if (command.data.size() != 2) return status(kSwWrongLength);
      const auto fid = static_cast<std::uint16_t>((command.data[0] << 8) | command.data[1]);
      const bool want_mf = command.p1 == kSelectByFid && fid == kMasterFileFid;
      if (!want_mf) {
        // EFs live under the MF only; P1=02 requires the MF to be the current DF, while
        // P1=00 finds them from anywhere, as most cards do.
        if (command.p1 == kSelectEfUnderCurrentDf && current_application_) {
          return status(kSwFileNotFound);
        }
        for (std::size_t i = 0; i < profile_.files.size(); ++i) {
          if (profile_.files[i].fid == fid) file = i;
        }
        if (!file) return status(kSwFileNotFound);
      }
    }
  } else if (command.p1 == kSelectByDfName) {
    if (occurrence != kOccurrenceFirst && occurrence != kOccurrenceNext) {
      return status(kSwIncorrectP1P2);
    }
    // An empty DF name selects the MF (a common card behaviour; documented in the header).
    if (!command.data.empty()) {
      std::size_t start = 0;
      if (occurrence == kOccurrenceNext && current_application_) start = *current_application_ + 1;
      for (std::size_t i = start; i < profile_.applications.size() && !application; ++i) {
        if (starts_with(profile_.applications[i].aid, command.data)) application = i;
      }
      if (!application) return status(kSwFileNotFound);
    }
  } else {
    return status(kSwIncorrectP1P2);
  }

  current_application_ = application;
  current_file_ = file;

  if (answer == kAnswerNone || !command.ne) return status(kSwOk);

  Bytes content;
  if (file) {
    const auto& ef = profile_.files[*file];
    append_tlv(content, kTagDataSize, u16_bytes(ef.contents.size()));
    append_tlv(content, kTagFileDescriptor, Bytes{kDescriptorTransparentEf});
    append_tlv(content, kTagFileIdentifier, u16_bytes(ef.fid));
    if (ef.sfi) append_tlv(content, kTagShortEfIdentifier, Bytes{static_cast<std::uint8_t>(*ef.sfi << 3)});
  } else if (application) {
    const auto& app = profile_.applications[*application];
    append_tlv(content, kTagDfName, app.aid);
    Bytes proprietary;
    if (!app.label.empty()) {
      append_tlv(proprietary, kTagApplicationLabel, Bytes(app.label.begin(), app.label.end()));
    }
    proprietary.insert(proprietary.end(), app.fci_proprietary.begin(), app.fci_proprietary.end());
    if (!proprietary.empty()) append_tlv(content, kTagProprietaryInformation, proprietary);
  } else {
    append_tlv(content, kTagFileDescriptor, Bytes{kDescriptorDf});
    append_tlv(content, kTagFileIdentifier, u16_bytes(kMasterFileFid));
  }
  const std::uint8_t template_tag = answer == kAnswerFcp   ? kTagFcpTemplate
                                    : answer == kAnswerFmd ? kTagFmdTemplate
                                                           : kTagFciTemplate;
  static_assert(kAnswerFci == 0x00);
  Bytes response;
  append_tlv(response, template_tag, content);
  return answer_with_limit(std::move(response), *command.ne);
}

std::uint16_t IsoCard::binary_target(const Command& command, std::size_t& file_index,
                                     std::size_t& offset) {
  if (command.p1 & kP1ShortEfFlag) {
    if (command.p1 & kP1ShortEfRfuBits) return kSwIncorrectP1P2;
    const std::uint8_t sfi = command.p1 & kP1ShortEfMask;
    // The short EF identifier names an EF of the current DF; only the MF has EFs here.
    std::optional<std::size_t> found;
    if (!current_application_) {
      for (std::size_t i = 0; i < profile_.files.size(); ++i) {
        if (profile_.files[i].sfi == sfi) found = i;
      }
    }
    if (!found) return kSwFileNotFound;
    current_file_ = found;  // addressing by SFI selects the EF, ISO 7816-4 7.2.2
    file_index = *found;
    offset = command.p2;
    return 0;
  }
  if (!current_file_) return kSwNoCurrentEf;
  file_index = *current_file_;
  offset = (std::size_t{command.p1} << 8) | command.p2;
  return 0;
}

Bytes IsoCard::read_binary(const Command& command) {
  if (!command.data.empty() || !command.ne) return status(kSwWrongLength);
  std::size_t file_index = 0;
  std::size_t offset = 0;
  if (auto error = binary_target(command, file_index, offset)) return status(error);
  const Bytes& contents = profile_.files[file_index].contents;
  if (offset >= contents.size()) return status(kSwOffsetOutsideEf);
  const std::size_t available = contents.size() - offset;
  const std::size_t count = std::min(available, *command.ne);
  Bytes data(contents.begin() + static_cast<std::ptrdiff_t>(offset),
             contents.begin() + static_cast<std::ptrdiff_t>(offset + count));
  return with_status(std::move(data), count < *command.ne ? kSwEndReachedEarly : kSwOk);
}

Bytes IsoCard::update_binary(const Command& command) {
  if (command.data.empty()) return status(kSwWrongLength);
  std::size_t file_index = 0;
  std::size_t offset = 0;
  if (auto error = binary_target(command, file_index, offset)) return status(error);
  auto& file = profile_.files[file_index];
  if (file.update_needs_pin && !pin_verified_) return status(kSwSecurityNotSatisfied);
  if (offset > file.contents.size()) return status(kSwOffsetOutsideEf);
  if (command.data.size() > file.contents.size() - offset) return status(kSwNotEnoughMemoryInFile);
  std::copy(command.data.begin(), command.data.end(),
            file.contents.begin() + static_cast<std::ptrdiff_t>(offset));
  return status(kSwOk);
}

Bytes IsoCard::get_challenge(const Command& command) {
  if (command.p1 != 0 || command.p2 != 0) return status(kSwIncorrectP1P2);
  if (!command.data.empty() || !command.ne) return status(kSwWrongLength);
  Bytes challenge;
  challenge.reserve(*command.ne + 2);
  while (challenge.size() < *command.ne) {
    auto word = challenge_generator_();
    for (int i = 0; i < 8 && challenge.size() < *command.ne; ++i) {
      challenge.push_back(static_cast<std::uint8_t>(word & 0xFF));
      word >>= 8;
    }
  }
  return with_status(std::move(challenge), kSwOk);
}

Bytes IsoCard::verify(const Command& command) {
  if (command.ne) return status(kSwWrongLength);  // VERIFY is case 1 or case 3
  if (command.p1 == kVerifyResetStatus) {
    if (!command.data.empty()) return status(kSwIncorrectP1P2);
    pin_verified_ = false;
    return status(kSwOk);
  }
  if (command.p1 != 0) return status(kSwIncorrectP1P2);
  if (command.p2 != profile_.pin_reference || profile_.pin.empty()) {
    return status(kSwReferencedDataNotFound);
  }
  auto tries_status = [this] {
    return status(static_cast<std::uint16_t>(kSwVerificationFailed |
                                             std::min<unsigned>(pin_tries_left_, 0x0F)));
  };
  if (command.data.empty()) {  // ask for the status only
    if (pin_verified_) return status(kSwOk);
    if (pin_tries_left_ == 0) return status(kSwAuthenticationBlocked);
    return tries_status();
  }
  if (pin_tries_left_ == 0) return status(kSwAuthenticationBlocked);
  if (command.data == profile_.pin) {
    pin_verified_ = true;
    pin_tries_left_ = profile_.pin_tries;
    return status(kSwOk);
  }
  pin_verified_ = false;
  --pin_tries_left_;
  return tries_status();
}

Bytes IsoCard::get_data(const Command& command) {
  if (!command.data.empty() || !command.ne) return status(kSwWrongLength);
  const auto tag = static_cast<std::uint16_t>((command.p1 << 8) | command.p2);
  for (const auto& object : profile_.data_objects) {
    if (object.tag == tag) return answer_with_limit(object.value, *command.ne);
  }
  return status(kSwReferencedDataNotFound);
}

Bytes IsoCard::get_response(const Command& command) {
  if (command.p1 != 0 || command.p2 != 0) return status(kSwIncorrectP1P2);
  if (!command.data.empty() || !command.ne) return status(kSwWrongLength);
  if (pending_response_.empty()) return status(kSwConditionsNotSatisfied);
  Bytes pending = std::move(pending_response_);
  pending_response_.clear();
  return answer_with_limit(std::move(pending), *command.ne);
}

Bytes IsoCard::echo(const Command& command) {
  switch (command.apdu_case()) {
    case 2: {
      Bytes pattern(*command.ne);
      for (std::size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<std::uint8_t>(i);
      return with_status(std::move(pattern), kSwOk);
    }
    case 4: return answer_with_limit(command.data, *command.ne);
    default: return status(kSwOk);
  }
}

}  // namespace readerlab::cards
