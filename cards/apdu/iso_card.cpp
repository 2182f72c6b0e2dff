#include "cards/apdu/iso_card.h"

#include <algorithm>

namespace readerlab::cards {
namespace {

// Instruction bytes, ISO 7816-4 section 7 (clauses of the 2005 edition).
constexpr std::uint8_t kInsSelect = 0xA4;               // 7.1.1
constexpr std::uint8_t kInsManageChannel = 0x70;        // 7.1.2
constexpr std::uint8_t kInsReadBinary = 0xB0;           // 7.2.3
constexpr std::uint8_t kInsUpdateBinary = 0xD6;         // 7.2.5
constexpr std::uint8_t kInsReadRecord = 0xB2;           // 7.3.3
constexpr std::uint8_t kInsUpdateRecord = 0xDC;         // 7.3.5
constexpr std::uint8_t kInsAppendRecord = 0xE2;         // 7.3.7
constexpr std::uint8_t kInsGetData = 0xCA;              // 7.4.2
constexpr std::uint8_t kInsPutData = 0xDA;              // 7.4.3
constexpr std::uint8_t kInsGetChallenge = 0x84;         // 7.5.3
constexpr std::uint8_t kInsVerify = 0x20;               // 7.5.6
constexpr std::uint8_t kInsChangeReferenceData = 0x24;  // 7.5.7
constexpr std::uint8_t kInsResetRetryCounter = 0x2C;    // 7.5.10
constexpr std::uint8_t kInsGetResponse = 0xC0;          // 7.6.1
constexpr std::uint8_t kClaProprietary = 0x80;          // b8=1: proprietary class, ISO 7816-4 5.1.1
constexpr std::uint8_t kInsEcho = 0x10;                 // readerlab's own, in the proprietary class
constexpr std::uint8_t kClaInvalid = 0xFF;              // ISO 7816-4 5.1.1

// SELECT parameters, ISO 7816-4 7.1.1 (Tables 39 and 40).
constexpr std::uint8_t kSelectByFid = 0x00;
constexpr std::uint8_t kSelectChildDf = 0x01;
constexpr std::uint8_t kSelectChildEf = 0x02;
constexpr std::uint8_t kSelectParentDf = 0x03;
constexpr std::uint8_t kSelectByDfName = 0x04;
constexpr std::uint8_t kSelectPathFromMf = 0x08;
constexpr std::uint8_t kSelectPathFromCurrentDf = 0x09;
constexpr std::uint8_t kOccurrenceMask = 0x03;
constexpr std::uint8_t kOccurrenceFirst = 0x00;
constexpr std::uint8_t kOccurrenceNext = 0x02;
constexpr std::uint8_t kAnswerMask = 0x0C;
constexpr std::uint8_t kAnswerFci = 0x00;
constexpr std::uint8_t kAnswerFcp = 0x04;
constexpr std::uint8_t kAnswerFmd = 0x08;
constexpr std::uint8_t kAnswerNone = 0x0C;
constexpr std::uint8_t kSelectP2RfuMask = 0xF0;

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
// File descriptor byte, ISO 7816-4 5.3.3 (Table 14), and the data coding byte (Table 15).
constexpr std::uint8_t kDescriptorDf = 0x38;
constexpr std::uint8_t kDescriptorTransparentEf = 0x01;
constexpr std::uint8_t kDescriptorLinearFixedEf = 0x02;
constexpr std::uint8_t kDescriptorLinearVariableEf = 0x04;
constexpr std::uint8_t kDescriptorCyclicEf = 0x06;
constexpr std::uint8_t kDataCodingByte = 0x21;  // one-time write, data unit of one byte

// READ/UPDATE BINARY P1, ISO 7816-4 7.2.2: b8=1 means b5-b1 is a short EF identifier.
constexpr std::uint8_t kP1ShortEfFlag = 0x80;
constexpr std::uint8_t kP1ShortEfRfuBits = 0x60;
constexpr std::uint8_t kP1ShortEfMask = 0x1F;

// Record commands P2, ISO 7816-4 7.3.2 (Table 49): b8-b4 SFI (0 = current EF), b3-b1 mode.
constexpr std::uint8_t kRecordSfiShift = 3;
constexpr std::uint8_t kRecordSfiRfu = 0x1F;
constexpr std::uint8_t kRecordModeMask = 0x07;
constexpr std::uint8_t kRecordModeFirst = 0x00;
constexpr std::uint8_t kRecordModeLast = 0x01;
constexpr std::uint8_t kRecordModeNext = 0x02;
constexpr std::uint8_t kRecordModePrevious = 0x03;
constexpr std::uint8_t kRecordModeNumberInP1 = 0x04;

constexpr std::uint8_t kVerifyResetStatus = 0xFF;  // P1=FF, no data, ISO 7816-4 7.5.6
constexpr std::uint8_t kChangeOldAndNew = 0x00;    // ISO 7816-4 7.5.7
constexpr std::uint8_t kChangeNewOnly = 0x01;
constexpr std::uint8_t kResetCodeAndNew = 0x00;  // ISO 7816-4 7.5.10
constexpr std::uint8_t kResetCodeOnly = 0x01;
constexpr std::size_t kMinSecretLength = 4;  // readerlab's rule for new values
constexpr std::size_t kMaxSecretLength = 16;
constexpr std::uint8_t kManageChannelOpen = 0x00;  // ISO 7816-4 7.1.2
constexpr std::uint8_t kManageChannelClose = 0x80;

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

std::uint16_t fid_at(std::span<const std::uint8_t> data, std::size_t index) {
  return static_cast<std::uint16_t>((data[index] << 8) | data[index + 1]);
}

std::uint16_t with_count(std::uint16_t status_word, std::size_t count) {
  return static_cast<std::uint16_t>(status_word | (count >= 256 ? 0 : count));  // 00: 256+
}

bool is_record_structure(FileStructure structure) { return structure != FileStructure::transparent; }

}  // namespace

IsoCard::IsoCard(CardProfile profile) : IsoCard(profile, profile.challenge_seed) {}

IsoCard::IsoCard(CardProfile profile, std::uint64_t challenge_seed)
    : profile_(std::move(profile)),
      file_system_(profile_.files, profile_.applications),
      challenge_generator_(challenge_seed) {
  // Without a PIN the PIN reference still exists (with the profile's counter), so VERIFY
  // reports 6A88 as before while pin_tries_left() reads the counter.
  secrets_.push_back({profile_.pin_reference, profile_.pin, profile_.pin_tries, profile_.pin_tries, false});
  if (!profile_.puk.empty()) {
    secrets_.push_back({profile_.puk_reference, profile_.puk, profile_.puk_tries, profile_.puk_tries, false});
  }
}

std::string IsoCard::name() const { return profile_.name; }

std::optional<Bytes> IsoCard::reset(ResetKind /*kind: cold and warm give the same ATR*/) {
  powered_ = true;
  reset_session_state();
  // Without PPS the card works in the first protocol its ATR offers, ISO 7816-3 8.2.3.
  selected_protocol_ = profile_.protocols.empty() ? std::nullopt : std::optional(profile_.protocols.front());
  negotiated_.reset();
  pps_allowed_ = true;
  if (profile_.mute) return std::nullopt;
  return profile_.atr;
}

void IsoCard::deactivate() {
  powered_ = false;
  pps_allowed_ = false;
  selected_protocol_.reset();
  negotiated_.reset();
  reset_session_state();
}

void IsoCard::select_protocol(Protocol protocol) {
  // A protocol the ATR does not offer would be a reader bug; the card keeps its current one
  // so the reader sees the consequence at the next exchange rather than here.
  if (std::find(profile_.protocols.begin(), profile_.protocols.end(), protocol) != profile_.protocols.end()) {
    selected_protocol_ = protocol;
  }
}

std::optional<Bytes> IsoCard::answer_pps(std::span<const std::uint8_t> request) {
  if (!powered_ || profile_.mute || !pps_allowed_) return std::nullopt;
  pps_allowed_ = false;  // PPS only right after the ATR, ISO 7816-3 9.1
  const auto parsed_atr = parse_atr(profile_.atr);
  if (!parsed_atr.atr) return std::nullopt;
  auto answer = answer_pps_request(*parsed_atr.atr, profile_.pps_reaction, request);
  if (answer.agreed) {
    negotiated_ = answer.agreed;
    if (answer.agreed->protocol <= 1) select_protocol(static_cast<Protocol>(answer.agreed->protocol));
  }
  return answer.response;
}

CardResponse IsoCard::transmit_apdu(std::span<const std::uint8_t> command) {
  if (!powered_) return {CardStatus::deactivated, {}};
  if (profile_.mute) return {CardStatus::mute, {}};
  pps_allowed_ = false;
  auto parsed = parse_command_apdu(command);
  if (!parsed) {
    pending_response_.clear();
    return {CardStatus::ok, status_only(sw::wrong_length)};
  }
  return {CardStatus::ok, dispatch(*parsed)};
}

std::uint8_t IsoCard::pin_tries_left() const {
  const Secret* pin = secret(profile_.pin_reference);
  return pin ? pin->tries_left : 0;
}

std::uint8_t IsoCard::puk_tries_left() const {
  const Secret* puk = profile_.puk.empty() ? nullptr : secret(profile_.puk_reference);
  return puk ? puk->tries_left : 0;
}

bool IsoCard::pin_verified() const { return pin_satisfied(); }

bool IsoCard::channel_open(std::uint8_t channel) const { return channel < channels_.size() && channels_[channel].open; }

std::optional<Bytes> IsoCard::file_contents(std::uint16_t fid) const {
  auto found = file_system_.child(FileSystem::kMasterFile, fid);
  if (!found || file_system_.node(*found).is_df) found = file_system_.find_ef_anywhere(fid);
  if (!found) return std::nullopt;
  return file_system_.node(*found).ef.contents;
}

std::optional<std::vector<Bytes>> IsoCard::file_records(std::uint16_t fid) const {
  auto found = file_system_.find_ef_anywhere(fid);
  if (!found) return std::nullopt;
  return file_system_.node(*found).ef.records;
}

void IsoCard::reset_session_state() {
  for (auto& channel : channels_) channel = Channel{};
  channels_[0].open = true;
  if (profile_.implicit_ef) {
    auto ef = file_system_.child(FileSystem::kMasterFile, *profile_.implicit_ef);
    if (ef && !file_system_.node(*ef).is_df) channels_[0].current_ef = ef;
  }
  channel_index_ = 0;
  for (auto& secret : secrets_) secret.verified = false;
  pending_response_.clear();
}

IsoCard::Secret* IsoCard::secret(std::uint8_t reference) {
  for (auto& candidate : secrets_) {
    if (candidate.reference == reference && !candidate.value.empty()) return &candidate;
  }
  return nullptr;
}

const IsoCard::Secret* IsoCard::secret(std::uint8_t reference) const {
  return const_cast<IsoCard*>(this)->secret(reference);
}

bool IsoCard::pin_satisfied() const {
  const Secret* pin = secret(profile_.pin_reference);
  return pin && pin->verified;
}

Bytes IsoCard::tries_status(const Secret& secret) const {
  // 63C0 on the try that blocks; later attempts see 6983 from their callers.
  return status_only(static_cast<std::uint16_t>(sw::verification_failed | std::min<unsigned>(secret.tries_left, 0x0F)));
}

Bytes IsoCard::dispatch(const Command& command) {
  // Only GET RESPONSE may collect what an earlier answer left pending.
  if (command.ins != kInsGetResponse) pending_response_.clear();

  const std::uint8_t cla = command.cla;
  if (cla == kClaInvalid) return status_only(sw::cla_not_supported);
  if (cla & 0x80) {
    if (cla != kClaProprietary) return status_only(sw::cla_not_supported);
    if (command.ins == kInsEcho) return echo(command);
    return status_only(sw::ins_not_supported);
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
    return status_only(sw::cla_not_supported);
  }
  if (logical_channel >= channels_.size() || logical_channel >= profile_.logical_channels ||
      !channels_[logical_channel].open) {
    return status_only(sw::logical_channel_unsupported);
  }
  if (secure_messaging) return status_only(sw::secure_messaging_unsupported);
  if (chaining) return status_only(sw::chaining_unsupported);
  channel_index_ = logical_channel;

  switch (command.ins) {
    case kInsSelect: return select(command);
    case kInsReadBinary: return read_binary(command);
    case kInsUpdateBinary: return update_binary(command);
    case kInsReadRecord: return read_record(command);
    case kInsUpdateRecord: return update_record(command);
    case kInsAppendRecord: return append_record(command);
    case kInsGetChallenge: return get_challenge(command);
    case kInsVerify: return verify(command);
    case kInsChangeReferenceData: return change_reference_data(command);
    case kInsResetRetryCounter: return reset_retry_counter(command);
    case kInsGetData: return get_data(command);
    case kInsPutData: return put_data(command);
    case kInsManageChannel: return manage_channel(command);
    case kInsGetResponse: return get_response(command);
    default: return status_only(sw::ins_not_supported);
  }
}

Bytes IsoCard::answer_with_limit(Bytes data, std::optional<std::size_t> ne) {
  if (!ne) {
    if (!t0_selected() || data.empty()) return status_only(sw::ok);
    const std::size_t size = data.size();
    pending_response_ = std::move(data);
    return status_only(with_count(sw::bytes_remaining, size));
  }
  if (data.size() <= *ne) return with_status(std::move(data), sw::ok);
  pending_response_.assign(data.begin() + static_cast<std::ptrdiff_t>(*ne), data.end());
  data.resize(*ne);
  return with_status(std::move(data), with_count(sw::bytes_remaining, pending_response_.size()));
}

Bytes IsoCard::answer_read(Bytes data, std::size_t ne, std::uint16_t short_status) {
  if (data.size() >= ne) {
    data.resize(ne);
    return with_status(std::move(data), sw::ok);
  }
  if (t0_selected() && ne <= kShortMaxNe && !data.empty()) {
    return status_only(with_count(sw::exact_length, data.size()));
  }
  return with_status(std::move(data), short_status);
}

Bytes IsoCard::fcp_or_fci(NodeId id, std::uint8_t answer_kind) const {
  const auto& node = file_system_.node(id);
  Bytes content;
  if (!node.is_df) {
    const auto& ef = node.ef;
    if (is_record_structure(ef.structure)) {
      const std::uint8_t descriptor = ef.structure == FileStructure::linear_fixed      ? kDescriptorLinearFixedEf
                                      : ef.structure == FileStructure::linear_variable ? kDescriptorLinearVariableEf
                                                                                       : kDescriptorCyclicEf;
      Bytes descriptor_value = {descriptor, kDataCodingByte};
      const Bytes size = u16_bytes(ef.record_size);
      descriptor_value.insert(descriptor_value.end(), size.begin(), size.end());
      descriptor_value.push_back(static_cast<std::uint8_t>(std::min<std::size_t>(ef.records.size(), 0xFF)));
      append_tlv(content, kTagFileDescriptor, descriptor_value);
    } else {
      Bytes size = u16_bytes(ef.contents.size());
      if (ef.contents.size() > 0xFFFF) size.insert(size.begin(), static_cast<std::uint8_t>(ef.contents.size() >> 16));
      append_tlv(content, kTagDataSize, size);
      append_tlv(content, kTagFileDescriptor, Bytes{kDescriptorTransparentEf});
    }
    append_tlv(content, kTagFileIdentifier, u16_bytes(ef.fid));
    if (ef.sfi) append_tlv(content, kTagShortEfIdentifier, Bytes{static_cast<std::uint8_t>(*ef.sfi << 3)});
  } else {
    if (node.fid) {
      append_tlv(content, kTagFileDescriptor, Bytes{kDescriptorDf});
      append_tlv(content, kTagFileIdentifier, u16_bytes(*node.fid));
    }
    const auto& df = node.df;
    if (!df.aid.empty()) append_tlv(content, kTagDfName, df.aid);
    Bytes proprietary;
    if (!df.label.empty()) {
      append_tlv(proprietary, kTagApplicationLabel, Bytes(df.label.begin(), df.label.end()));
    }
    proprietary.insert(proprietary.end(), df.fci_proprietary.begin(), df.fci_proprietary.end());
    if (!proprietary.empty()) append_tlv(content, kTagProprietaryInformation, proprietary);
  }
  static_assert(kAnswerFci == 0x00);
  const std::uint8_t template_tag = answer_kind == kAnswerFcp   ? kTagFcpTemplate
                                    : answer_kind == kAnswerFmd ? kTagFmdTemplate
                                                                : kTagFciTemplate;
  Bytes response;
  append_tlv(response, template_tag, content);
  return response;
}

Bytes IsoCard::select(const Command& command) {
  const std::uint8_t occurrence = command.p2 & kOccurrenceMask;
  const std::uint8_t answer = command.p2 & kAnswerMask;
  if ((command.p2 & kSelectP2RfuMask) != 0) return status_only(sw::incorrect_p1_p2);
  if (command.p1 != kSelectByDfName && occurrence != kOccurrenceFirst) {
    return status_only(sw::incorrect_p1_p2);
  }
  std::optional<NodeId> target;
  if (auto error = select_target(command, target)) return status_only(error);
  if (!target) return status_only(sw::file_not_found);
  make_current(*target);
  if (answer == kAnswerNone) return status_only(sw::ok);
  return answer_with_limit(fcp_or_fci(*target, answer), command.ne);
}

// The file P1 and the data name (ISO 7816-4 Table 39); 0 when the lookup ran, whether or not
// it found the file, else the status word refusing the command.
std::uint16_t IsoCard::select_target(const Command& command, std::optional<NodeId>& target) {
  switch (command.p1) {
    case kSelectByFid: return select_by_fid(command.data, target);
    case kSelectChildDf:
    case kSelectChildEf: return select_child(command.data, command.p1 == kSelectChildDf, target);
    case kSelectParentDf: return select_parent(command.data, target);
    case kSelectByDfName: return select_by_df_name(command.data, command.p2 & kOccurrenceMask, target);
    case kSelectPathFromMf:
    case kSelectPathFromCurrentDf: return select_by_path(command.data, command.p1 == kSelectPathFromMf, target);
    default: return sw::incorrect_p1_p2;
  }
}

std::uint16_t IsoCard::select_by_fid(const Bytes& data, std::optional<NodeId>& target) {
  if (data.empty()) {
    target = FileSystem::kMasterFile;
    return 0;
  }
  if (data.size() != 2) return sw::wrong_length;
  target = file_system_.find_from(channel().current_df, fid_at(data, 0));
  return 0;
}

std::uint16_t IsoCard::select_child(const Bytes& data, bool want_df, std::optional<NodeId>& target) {
  if (data.size() != 2) return sw::wrong_length;
  target = file_system_.child(channel().current_df, fid_at(data, 0));
  if (target && file_system_.node(*target).is_df != want_df) target.reset();
  return 0;
}

std::uint16_t IsoCard::select_parent(const Bytes& data, std::optional<NodeId>& target) {
  if (!data.empty()) return sw::wrong_length;
  const NodeId current_df = channel().current_df;
  if (current_df != FileSystem::kMasterFile) target = file_system_.node(current_df).parent;
  return 0;
}

std::uint16_t IsoCard::select_by_df_name(const Bytes& data, std::uint8_t occurrence, std::optional<NodeId>& target) {
  if (occurrence != kOccurrenceFirst && occurrence != kOccurrenceNext) return sw::incorrect_p1_p2;
  // An empty DF name selects the MF (a common card behaviour).
  if (data.empty()) {
    target = FileSystem::kMasterFile;
    return 0;
  }
  const NodeId start = occurrence == kOccurrenceNext ? channel().current_df + 1 : 0;
  for (NodeId id = start; id < file_system_.size() && !target; ++id) {
    const auto& node = file_system_.node(id);
    if (node.is_df && !node.df.aid.empty() && starts_with(node.df.aid, data)) target = id;
  }
  return 0;
}

std::uint16_t IsoCard::select_by_path(const Bytes& data, bool from_mf, std::optional<NodeId>& target) {
  if (data.empty() || data.size() % 2 != 0) return sw::wrong_length;
  std::size_t index = 0;
  NodeId node = channel().current_df;
  if (from_mf) {
    node = FileSystem::kMasterFile;
    if (fid_at(data, 0) == FileSystem::kMasterFileFid) index = 2;  // tolerated prefix
  }
  target = node;
  for (; index < data.size() && target; index += 2) {
    if (!file_system_.node(*target).is_df) {
      target.reset();
      break;
    }
    target = file_system_.child(*target, fid_at(data, index));
  }
  return 0;
}

// A selected DF becomes the current DF; a selected EF the current EF, in its parent DF.
void IsoCard::make_current(NodeId target) {
  Channel& current = channel();
  if (file_system_.node(target).is_df) {
    current.current_df = target;
    current.current_ef.reset();
  } else {
    current.current_df = file_system_.node(target).parent;
    current.current_ef = target;
  }
  current.current_record.reset();
}

std::uint16_t IsoCard::binary_target(const Command& command, NodeId& file, std::size_t& offset) {
  Channel& current = channel();
  if (command.p1 & kP1ShortEfFlag) {
    if (command.p1 & kP1ShortEfRfuBits) return sw::incorrect_p1_p2;
    const std::uint8_t sfi = command.p1 & kP1ShortEfMask;
    const auto found = file_system_.child_ef_by_sfi(current.current_df, sfi);
    if (!found) return sw::file_not_found;
    if (current.current_ef != found) current.current_record.reset();
    current.current_ef = found;  // addressing by SFI selects the EF, ISO 7816-4 7.2.2
    file = *found;
    offset = command.p2;
  } else {
    if (!current.current_ef) return sw::no_current_ef;
    file = *current.current_ef;
    offset = (std::size_t{command.p1} << 8) | command.p2;
  }
  if (is_record_structure(file_system_.node(file).ef.structure)) return sw::incompatible_file_structure;
  return 0;
}

Bytes IsoCard::read_binary(const Command& command) {
  if (!command.data.empty() || !command.ne) return status_only(sw::wrong_length);
  NodeId file = 0;
  std::size_t offset = 0;
  if (auto error = binary_target(command, file, offset)) return status_only(error);
  const auto& ef = file_system_.node(file).ef;
  if (ef.read_needs_pin && !pin_satisfied()) return status_only(sw::security_not_satisfied);
  const Bytes& contents = ef.contents;
  if (offset >= contents.size()) return status_only(sw::offset_outside_ef);
  const std::size_t count = std::min(contents.size() - offset, *command.ne);
  Bytes data(contents.begin() + static_cast<std::ptrdiff_t>(offset),
             contents.begin() + static_cast<std::ptrdiff_t>(offset + count));
  if (command.extended) return with_status(std::move(data), count < *command.ne ? sw::end_reached_early : sw::ok);
  return answer_read(std::move(data), *command.ne, sw::end_reached_early);
}

Bytes IsoCard::update_binary(const Command& command) {
  if (command.data.empty()) return status_only(sw::wrong_length);
  NodeId file = 0;
  std::size_t offset = 0;
  if (auto error = binary_target(command, file, offset)) return status_only(error);
  auto& ef = file_system_.node(file).ef;
  if (ef.update_needs_pin && !pin_satisfied()) return status_only(sw::security_not_satisfied);
  if (offset > ef.contents.size()) return status_only(sw::offset_outside_ef);
  if (command.data.size() > ef.contents.size() - offset) return status_only(sw::not_enough_memory);
  std::copy(command.data.begin(), command.data.end(), ef.contents.begin() + static_cast<std::ptrdiff_t>(offset));
  return status_only(sw::ok);
}

std::uint16_t IsoCard::record_file(std::uint8_t p2, NodeId& file) {
  Channel& current = channel();
  const std::uint8_t sfi = static_cast<std::uint8_t>(p2 >> kRecordSfiShift);
  if (sfi == kRecordSfiRfu) return sw::incorrect_p1_p2;
  if (sfi == 0) {
    if (!current.current_ef) return sw::no_current_ef;
    file = *current.current_ef;
  } else {
    const auto found = file_system_.child_ef_by_sfi(current.current_df, sfi);
    if (!found) return sw::file_not_found;
    if (current.current_ef != found) current.current_record.reset();
    current.current_ef = found;
    file = *found;
  }
  if (!is_record_structure(file_system_.node(file).ef.structure)) return sw::incompatible_file_structure;
  return 0;
}

Bytes IsoCard::read_record(const Command& command) {
  if (!command.data.empty() || !command.ne) return status_only(sw::wrong_length);
  NodeId file = 0;
  if (auto error = record_file(command.p2, file)) return status_only(error);
  const auto& ef = file_system_.node(file).ef;
  if (ef.read_needs_pin && !pin_satisfied()) return status_only(sw::security_not_satisfied);
  Channel& current = channel();
  const std::size_t count = ef.records.size();
  const std::uint8_t mode = command.p2 & kRecordModeMask;
  std::optional<std::size_t> index;
  if (mode == kRecordModeNumberInP1) {
    if (command.p1 == 0) {
      index = current.current_record;
    } else if (command.p1 <= count) {
      index = command.p1 - 1u;
    }
  } else if (mode <= kRecordModePrevious) {
    if (command.p1 != 0) return status_only(sw::incorrect_p1_p2);  // record identifiers: none here
    if (count > 0) {
      if (mode == kRecordModeFirst) index = 0;
      if (mode == kRecordModeLast) index = count - 1;
      if (mode == kRecordModeNext) {
        const std::size_t next = current.current_record ? *current.current_record + 1 : 0;
        if (next < count) index = next;
      }
      if (mode == kRecordModePrevious) {
        if (!current.current_record)
          index = count - 1;
        else if (*current.current_record > 0)
          index = *current.current_record - 1;
      }
    }
  } else {
    return status_only(sw::incorrect_p1_p2);
  }
  if (!index || *index >= count) return status_only(sw::record_not_found);
  current.current_record = index;
  // Le=00 (or 0000) asks for the whole record; a smaller Le beyond its end is a warning.
  const bool maximal_ne = *command.ne == (command.extended ? kExtendedMaxNe : kShortMaxNe);
  return answer_read(ef.records[*index], *command.ne, maximal_ne ? sw::ok : sw::end_reached_early);
}

Bytes IsoCard::update_record(const Command& command) {
  if (command.data.empty() || command.ne) return status_only(sw::wrong_length);
  if ((command.p2 & kRecordModeMask) != kRecordModeNumberInP1) return status_only(sw::incorrect_p1_p2);
  NodeId file = 0;
  if (auto error = record_file(command.p2, file)) return status_only(error);
  auto& ef = file_system_.node(file).ef;
  if (ef.update_needs_pin && !pin_satisfied()) return status_only(sw::security_not_satisfied);
  Channel& current = channel();
  std::optional<std::size_t> index;
  if (command.p1 == 0)
    index = current.current_record;
  else if (command.p1 <= ef.records.size())
    index = command.p1 - 1u;
  if (!index || *index >= ef.records.size()) return status_only(sw::record_not_found);
  const bool variable = ef.structure == FileStructure::linear_variable;
  if (variable ? command.data.size() > ef.record_size : command.data.size() != ef.record_size) {
    return status_only(sw::wrong_length);
  }
  ef.records[*index] = command.data;
  current.current_record = index;
  return status_only(sw::ok);
}

Bytes IsoCard::append_record(const Command& command) {
  if (command.data.empty() || command.ne) return status_only(sw::wrong_length);
  if (command.p1 != 0 || (command.p2 & kRecordModeMask) != 0) return status_only(sw::incorrect_p1_p2);
  NodeId file = 0;
  if (auto error = record_file(command.p2, file)) return status_only(error);
  auto& ef = file_system_.node(file).ef;
  if (ef.update_needs_pin && !pin_satisfied()) return status_only(sw::security_not_satisfied);
  const bool variable = ef.structure == FileStructure::linear_variable;
  if (variable ? command.data.size() > ef.record_size : command.data.size() != ef.record_size) {
    return status_only(sw::wrong_length);
  }
  Channel& current = channel();
  if (ef.structure == FileStructure::cyclic) {
    // The newest record becomes record 1; the oldest goes when the EF is full, ISO 7816-4 7.3.7.
    const std::size_t capacity = ef.max_records ? ef.max_records : std::max<std::size_t>(ef.records.size(), 1);
    ef.records.insert(ef.records.begin(), command.data);
    if (ef.records.size() > capacity) ef.records.pop_back();
    current.current_record = 0;
    return status_only(sw::ok);
  }
  const std::size_t capacity = ef.max_records ? ef.max_records : ef.records.size();
  if (ef.records.size() >= capacity) return status_only(sw::not_enough_memory);
  ef.records.push_back(command.data);
  current.current_record = ef.records.size() - 1;
  return status_only(sw::ok);
}

Bytes IsoCard::get_challenge(const Command& command) {
  if (command.p1 != 0 || command.p2 != 0) return status_only(sw::incorrect_p1_p2);
  if (!command.data.empty() || !command.ne) return status_only(sw::wrong_length);
  Bytes challenge;
  challenge.reserve(*command.ne + 2);
  while (challenge.size() < *command.ne) {
    auto word = challenge_generator_();
    for (int i = 0; i < 8 && challenge.size() < *command.ne; ++i) {
      challenge.push_back(static_cast<std::uint8_t>(word & 0xFF));
      word >>= 8;
    }
  }
  return with_status(std::move(challenge), sw::ok);
}

Bytes IsoCard::verify(const Command& command) {
  if (command.ne) return status_only(sw::wrong_length);  // VERIFY is case 1 or case 3
  if (command.p1 == kVerifyResetStatus) {
    if (!command.data.empty()) return status_only(sw::incorrect_p1_p2);
    for (auto& candidate : secrets_) {
      if (candidate.reference == command.p2 || command.p2 == 0) candidate.verified = false;
    }
    return status_only(sw::ok);
  }
  if (command.p1 != 0) return status_only(sw::incorrect_p1_p2);
  Secret* target = secret(command.p2);
  if (!target) return status_only(sw::referenced_data_not_found);
  if (command.data.empty()) {  // ask for the status only
    if (target->verified) return status_only(sw::ok);
    if (target->tries_left == 0) return status_only(sw::authentication_blocked);
    return tries_status(*target);
  }
  if (target->tries_left == 0) return status_only(sw::authentication_blocked);
  if (command.data == target->value) {
    target->verified = true;
    target->tries_left = target->max_tries;
    return status_only(sw::ok);
  }
  target->verified = false;
  --target->tries_left;
  return tries_status(*target);
}

Bytes IsoCard::change_reference_data(const Command& command) {
  if (command.ne || command.data.empty()) return status_only(sw::wrong_length);
  Secret* target = secret(command.p2);
  if (command.p1 != kChangeOldAndNew && command.p1 != kChangeNewOnly) return status_only(sw::incorrect_p1_p2);
  if (!target) return status_only(sw::referenced_data_not_found);
  if (target->tries_left == 0) return status_only(sw::authentication_blocked);
  std::span<const std::uint8_t> new_value = command.data;
  if (command.p1 == kChangeOldAndNew) {
    // The card knows the length of its current value, so old||new splits unambiguously.
    if (command.data.size() <= target->value.size()) return status_only(sw::wrong_length);
    const std::span<const std::uint8_t> old_value(command.data.data(), target->value.size());
    if (!std::equal(old_value.begin(), old_value.end(), target->value.begin())) {
      target->verified = false;
      --target->tries_left;
      return tries_status(*target);
    }
    new_value = std::span(command.data).subspan(target->value.size());
  } else if (!target->verified) {
    return status_only(sw::security_not_satisfied);
  }
  if (new_value.size() < kMinSecretLength || new_value.size() > kMaxSecretLength) {
    return status_only(sw::wrong_data);
  }
  target->value.assign(new_value.begin(), new_value.end());
  target->tries_left = target->max_tries;
  target->verified = true;
  return status_only(sw::ok);
}

Bytes IsoCard::reset_retry_counter(const Command& command) {
  if (command.ne) return status_only(sw::wrong_length);
  if (command.p1 != kResetCodeAndNew && command.p1 != kResetCodeOnly) return status_only(sw::incorrect_p1_p2);
  if (command.p2 != profile_.pin_reference) return status_only(sw::referenced_data_not_found);
  Secret* pin = secret(profile_.pin_reference);
  Secret* puk = profile_.puk.empty() ? nullptr : secret(profile_.puk_reference);
  if (!pin || !puk) return status_only(sw::referenced_data_not_found);
  if (command.data.size() < puk->value.size()) return status_only(sw::wrong_length);
  if (command.p1 == kResetCodeOnly && command.data.size() != puk->value.size()) {
    return status_only(sw::wrong_length);
  }
  if (command.p1 == kResetCodeAndNew && command.data.size() == puk->value.size()) {
    return status_only(sw::wrong_length);
  }
  if (puk->tries_left == 0) return status_only(sw::authentication_blocked);
  if (!std::equal(puk->value.begin(), puk->value.end(), command.data.begin())) {
    --puk->tries_left;
    return tries_status(*puk);
  }
  const auto new_pin = std::span(command.data).subspan(puk->value.size());
  if (command.p1 == kResetCodeAndNew && (new_pin.size() < kMinSecretLength || new_pin.size() > kMaxSecretLength)) {
    return status_only(sw::wrong_data);
  }
  puk->tries_left = puk->max_tries;
  if (command.p1 == kResetCodeAndNew) pin->value.assign(new_pin.begin(), new_pin.end());
  pin->tries_left = pin->max_tries;
  pin->verified = false;
  return status_only(sw::ok);
}

Bytes IsoCard::get_data(const Command& command) {
  if (!command.data.empty() || !command.ne) return status_only(sw::wrong_length);
  const auto tag = static_cast<std::uint16_t>((command.p1 << 8) | command.p2);
  for (const auto& object : profile_.data_objects) {
    if (object.tag != tag) continue;
    if (t0_selected() && !command.extended && object.value.size() < *command.ne && !object.value.empty()) {
      return status_only(with_count(sw::exact_length, object.value.size()));
    }
    return answer_with_limit(object.value, *command.ne);
  }
  return status_only(sw::referenced_data_not_found);
}

Bytes IsoCard::put_data(const Command& command) {
  if (command.data.empty() || command.ne) return status_only(sw::wrong_length);
  const auto tag = static_cast<std::uint16_t>((command.p1 << 8) | command.p2);
  for (auto& object : profile_.data_objects) {
    if (object.tag != tag) continue;
    if (object.read_only) return status_only(sw::conditions_not_satisfied);
    if (object.put_needs_pin && !pin_satisfied()) return status_only(sw::security_not_satisfied);
    object.value = command.data;
    return status_only(sw::ok);
  }
  DataObject created;
  created.tag = tag;
  created.value = command.data;
  profile_.data_objects.push_back(std::move(created));
  return status_only(sw::ok);
}

Bytes IsoCard::manage_channel(const Command& command) {
  if (!command.data.empty()) return status_only(sw::wrong_length);
  const std::size_t usable = std::min<std::size_t>(channels_.size(), profile_.logical_channels);
  if (command.p1 == kManageChannelOpen) {
    std::size_t opened = command.p2;
    if (command.p2 == 0) {
      if (!command.ne) return status_only(sw::wrong_length);
      opened = 1;
      while (opened < usable && channels_[opened].open) ++opened;
      if (opened >= usable) return status_only(sw::function_unsupported);
    } else {
      if (command.ne) return status_only(sw::wrong_length);
      if (command.p2 >= usable) return status_only(sw::function_unsupported);
      if (channels_[opened].open) return status_only(sw::conditions_not_satisfied);
    }
    // Opened from the basic channel the new one starts at the MF; from another channel it
    // takes over that channel's current files, ISO 7816-4 7.1.2.
    Channel fresh;
    if (channel_index_ != 0) fresh = channel();
    fresh.open = true;
    channels_[opened] = fresh;
    if (command.p2 != 0) return status_only(sw::ok);
    return answer_read(Bytes{static_cast<std::uint8_t>(opened)}, *command.ne, sw::ok);
  }
  if (command.p1 == kManageChannelClose) {
    if (command.ne) return status_only(sw::wrong_length);
    const std::size_t closed = command.p2 ? command.p2 : channel_index_;
    if (closed == 0) return status_only(sw::incorrect_p1_p2);  // the basic channel stays open
    if (closed >= usable || !channels_[closed].open) return status_only(sw::logical_channel_unsupported);
    channels_[closed] = Channel{};
    return status_only(sw::ok);
  }
  return status_only(sw::incorrect_p1_p2);
}

Bytes IsoCard::get_response(const Command& command) {
  if (command.p1 != 0 || command.p2 != 0) return status_only(sw::incorrect_p1_p2);
  if (!command.data.empty() || !command.ne) return status_only(sw::wrong_length);
  if (pending_response_.empty()) return status_only(sw::conditions_not_satisfied);
  if (t0_selected() && !command.extended && *command.ne > pending_response_.size()) {
    return status_only(with_count(sw::exact_length, pending_response_.size()));  // kept pending
  }
  Bytes pending = std::move(pending_response_);
  pending_response_.clear();
  return answer_with_limit(std::move(pending), *command.ne);
}

Bytes IsoCard::echo(const Command& command) {
  switch (command.apdu_case()) {
    case 2: {
      Bytes pattern(*command.ne);
      for (std::size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<std::uint8_t>(i);
      return with_status(std::move(pattern), sw::ok);
    }
    case 3: return answer_with_limit(command.data, std::nullopt);  // T=0: 61xx, see the header
    case 4: return answer_with_limit(command.data, *command.ne);
    default: return status_only(sw::ok);
  }
}

ProtocolBehaviour IsoCard::protocol_behaviour() const {
  ProtocolBehaviour behaviour;
  behaviour.t0_null_bytes = profile_.t0_null_bytes;
  behaviour.t1_wtx_multiplier = static_cast<std::uint8_t>(std::min(profile_.wtx_multiplier, 255u));
  behaviour.t1_crc_windows = profile_.t1_crc_windows;
  behaviour.t0_envelope = profile_.t0_envelope;
  behaviour.processing_time = std::chrono::milliseconds(profile_.processing_ms);
  return behaviour;
}

}  // namespace readerlab::cards
