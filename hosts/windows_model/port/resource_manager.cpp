#include "hosts/windows_model/port/resource_manager.h"

#include "hosts/windows_model/port/wire_format.h"
#include "hosts/windows_model/rdf/host_driver.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace readerlab::windows_model {
namespace {

using Clock = std::chrono::steady_clock;

// PC/SC return codes (winscard / pcsc-lite pcsclite.h; the same values on both).
constexpr std::uint32_t kSuccess = 0;
constexpr std::uint32_t kCancelled = 0x80100002;
constexpr std::uint32_t kInvalidHandle = 0x80100003;
constexpr std::uint32_t kInvalidParameter = 0x80100004;
constexpr std::uint32_t kInsufficientBuffer = 0x80100008;
constexpr std::uint32_t kUnknownReader = 0x80100009;
constexpr std::uint32_t kTimeout = 0x8010000A;
constexpr std::uint32_t kSharingViolation = 0x8010000B;
constexpr std::uint32_t kNoSmartcard = 0x8010000C;
constexpr std::uint32_t kProtoMismatch = 0x8010000F;
constexpr std::uint32_t kNotReady = 0x80100010;
constexpr std::uint32_t kInvalidValue = 0x80100011;
constexpr std::uint32_t kNotTransacted = 0x80100016;
constexpr std::uint32_t kReaderUnavailable = 0x80100017;
constexpr std::uint32_t kUnsupportedFeature = 0x80100022;
constexpr std::uint32_t kNoReadersAvailable = 0x8010002E;
constexpr std::uint32_t kUnsupportedCard = 0x80100065;
constexpr std::uint32_t kUnresponsiveCard = 0x80100066;
constexpr std::uint32_t kRemovedCard = 0x80100069;

// SCardGetStatusChange state bits (winscard.h).
constexpr std::uint32_t kStateChanged = 0x2, kStateUnknown = 0x4, kStateEmpty = 0x10, kStatePresent = 0x20,
                        kStateExclusive = 0x80, kStateInUse = 0x100, kStateMute = 0x200;
constexpr std::uint32_t kShareExclusive = 1, kShareShared = 2, kShareDirect = 3;
constexpr std::uint32_t kLeaveCard = 0, kResetCard = 1, kUnpowerCard = 2, kEjectCard = 3;
// pcsc-lite's SCARD_CTL_CODE(n) is 0x42000000 + n; the Windows one 0x310000 | n << 2.
constexpr std::uint32_t kPcscLiteCtlBase = 0x42000000;
// An "infinite" SCardGetStatusChange returns SCARD_E_TIMEOUT after this, so a case cannot hang.
constexpr std::chrono::milliseconds kLongestWait{60000};
constexpr std::uint32_t kMaxResponse = 65538;

Bytes ulong_bytes(std::uint32_t value) {
  return {static_cast<std::uint8_t>(value), static_cast<std::uint8_t>(value >> 8),
          static_cast<std::uint8_t>(value >> 16), static_cast<std::uint8_t>(value >> 24)};
}

std::uint32_t ulong_at(const Bytes& bytes) {
  if (bytes.size() < 4) return 0;
  return static_cast<std::uint32_t>(bytes[0]) | static_cast<std::uint32_t>(bytes[1]) << 8 |
         static_cast<std::uint32_t>(bytes[2]) << 16 | static_cast<std::uint32_t>(bytes[3]) << 24;
}

// The PC/SC result, with the driver's NTSTATUS beside it for the report when an IOCTL failed.
nlohmann::json reply_rv(std::uint32_t rv, NTSTATUS driver_status = STATUS_SUCCESS) {
  nlohmann::json reply{{"rv", rv}, {"rv_name", scard_name(rv)}};
  if (driver_status != STATUS_SUCCESS) reply["ntstatus"] = ntstatus_name(static_cast<std::uint32_t>(driver_status));
  return reply;
}

nlohmann::json reply_status(NTSTATUS status) {
  return reply_rv(scard_error_of(static_cast<std::uint32_t>(status)), status);
}

std::string attribute_text(HostDriver& driver, ULONG tag) {
  const auto reply = driver.ioctl_ulong(IOCTL_SMARTCARD_GET_ATTRIBUTE, tag, 64);
  if (reply.status != STATUS_SUCCESS) return {};
  std::string text(reply.output.begin(), reply.output.end());
  while (!text.empty() && text.back() == '\0') text.pop_back();
  return text;
}

}  // namespace

// NTSTATUS → PC/SC as readerlab's resource manager reports it. Windows goes through Win32
// errors on the way; where its result is known it is the same (NO_MEDIA → removed card,
// CANCELLED → cancelled), the rest follow pcsc-lite's nearest code.
std::uint32_t scard_error_of(std::uint32_t ntstatus) {
  switch (static_cast<NTSTATUS>(ntstatus)) {
    case STATUS_SUCCESS: return kSuccess;
    case STATUS_NO_MEDIA: return kRemovedCard;
    case STATUS_IO_TIMEOUT: return kUnresponsiveCard;
    case STATUS_UNRECOGNIZED_MEDIA: return kUnsupportedCard;
    case STATUS_BUFFER_TOO_SMALL:
    case STATUS_BUFFER_OVERFLOW: return kInsufficientBuffer;
    case STATUS_NOT_SUPPORTED:
    case STATUS_INVALID_DEVICE_REQUEST: return kUnsupportedFeature;
    case STATUS_INVALID_PARAMETER: return kInvalidParameter;
    case STATUS_INVALID_DEVICE_STATE: return kNotReady;
    case STATUS_CANCELLED: return kCancelled;
    case STATUS_DEVICE_NOT_CONNECTED: return kReaderUnavailable;
    default: return kNotTransacted;
  }
}

std::string scard_name(std::uint32_t rv) {
  static const std::map<std::uint32_t, const char*> names = {
      {kSuccess, "SCARD_S_SUCCESS"},
      {kCancelled, "SCARD_E_CANCELLED"},
      {kInvalidHandle, "SCARD_E_INVALID_HANDLE"},
      {kInvalidParameter, "SCARD_E_INVALID_PARAMETER"},
      {kInsufficientBuffer, "SCARD_E_INSUFFICIENT_BUFFER"},
      {kUnknownReader, "SCARD_E_UNKNOWN_READER"},
      {kTimeout, "SCARD_E_TIMEOUT"},
      {kSharingViolation, "SCARD_E_SHARING_VIOLATION"},
      {kNoSmartcard, "SCARD_E_NO_SMARTCARD"},
      {kProtoMismatch, "SCARD_E_PROTO_MISMATCH"},
      {kNotReady, "SCARD_E_NOT_READY"},
      {kInvalidValue, "SCARD_E_INVALID_VALUE"},
      {kNotTransacted, "SCARD_E_NOT_TRANSACTED"},
      {kReaderUnavailable, "SCARD_E_READER_UNAVAILABLE"},
      {kUnsupportedFeature, "SCARD_E_UNSUPPORTED_FEATURE"},
      {kNoReadersAvailable, "SCARD_E_NO_READERS_AVAILABLE"},
      {kUnsupportedCard, "SCARD_W_UNSUPPORTED_CARD"},
      {kUnresponsiveCard, "SCARD_W_UNRESPONSIVE_CARD"},
      {kRemovedCard, "SCARD_W_REMOVED_CARD"},
  };
  const auto it = names.find(rv);
  return it == names.end() ? "SCARD_E_UNEXPECTED" : it->second;
}

ResourceManager::ResourceManager(Device device) : device_(std::move(device)) {}

void ResourceManager::reset() {
  reader_ = ReaderView{};
  contexts_.clear();
  connections_.clear();
}

void ResourceManager::read_atr(HostDriver& driver) {
  const auto power = driver.ioctl_ulong(IOCTL_SMARTCARD_POWER, SCARD_COLD_RESET, 64);
  reader_.mute = power.status != STATUS_SUCCESS;
  reader_.atr = reader_.mute ? Bytes{} : power.output;
}

void ResourceManager::card_event(HostDriver& driver, bool present) {
  ++reader_.events;
  reader_.present = present;
  reader_.atr.clear();
  reader_.mute = false;
  if (present) read_atr(driver);
}

void ResourceManager::take_tracking_result(HostDriver& driver) {
  const auto status = static_cast<std::uint32_t>(driver.pending_status());
  driver.release_pending();
  if (status != STATUS_SUCCESS) return;  // cancelled: nothing changed
  // IS_ABSENT completes on a swap as well: a card that is present again is a new card.
  card_event(driver, driver.state() >= SCARD_PRESENT);
}

void ResourceManager::arm_tracking(HostDriver& driver) {
  // A card that came or went between two requests completes the new IRP at once.
  for (int round = 0; round < 4 && !driver.has_pending(); ++round) {
    const ULONG code = reader_.present ? IOCTL_SMARTCARD_IS_ABSENT : IOCTL_SMARTCARD_IS_PRESENT;
    const auto reply = driver.ioctl(code, {}, 0);
    if (reply.pending) return;
    if (reply.status != STATUS_SUCCESS) return;
    card_event(driver, !reader_.present);
  }
}

void ResourceManager::refresh() {
  const auto [driver, generation] = device_.driver();
  if (!driver) {
    if (reader_.available) ++reader_.events;
    reader_.available = false;
    return;
  }
  if (reader_.available && generation != reader_.generation) {
    // The device was replaced (unplugged and plugged again between two calls): the service
    // sees the removal first and the arrival on its next look.
    reader_ = ReaderView{};
    reader_.generation = generation;
    return;
  }
  if (!reader_.available) {
    // A reader that (re)appeared: as the service does for a new device.
    reader_ = ReaderView{};
    reader_.available = true;
    reader_.generation = generation;
    const auto unit = driver->ioctl_ulong(IOCTL_SMARTCARD_GET_ATTRIBUTE, SCARD_ATTR_DEVICE_UNIT, 4);
    reader_.name = attribute_text(*driver, SCARD_ATTR_VENDOR_NAME) + " " +
                   attribute_text(*driver, SCARD_ATTR_VENDOR_IFD_TYPE) + " " +
                   std::to_string(unit.status == STATUS_SUCCESS ? ulong_at(unit.output) : 0);
    reader_.present = driver->state() >= SCARD_PRESENT;
    if (reader_.present) read_atr(*driver);
  }
  if (driver->has_pending() && driver->pending_completed()) take_tracking_result(*driver);
  arm_tracking(*driver);
}

std::uint32_t ResourceManager::reader_state_bits() const {
  if (!reader_.available) return kStateUnknown;
  std::uint32_t bits = reader_.present ? kStatePresent : kStateEmpty;
  if (reader_.present && reader_.mute) bits |= kStateMute;
  for (const auto& [handle, connection] : connections_) {
    if (connection.generation != reader_.generation) continue;
    bits |= connection.share_mode == kShareExclusive ? kStateExclusive : kStateInUse;
  }
  return bits | reader_.events << 16;
}

std::uint32_t ResourceManager::check_card(std::uint64_t card, Connection*& connection) {
  const auto it = connections_.find(card);
  if (it == connections_.end()) return kInvalidHandle;
  connection = &it->second;
  refresh();
  if (!reader_.available || connection->generation != reader_.generation) return kReaderUnavailable;
  if (connection->share_mode == kShareDirect) return kSuccess;
  if (connection->events_at_connect != reader_.events || !reader_.present) return kRemovedCard;
  return kSuccess;
}

std::pair<std::uint32_t, std::uint32_t> ResourceManager::activate(HostDriver& driver, std::uint32_t preferred,
                                                                  bool reset_first) {
  const std::uint32_t wanted = preferred & (SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1);
  if (wanted == 0) return {kInvalidValue, 0};
  if (!reset_first && driver.state() == SCARD_SPECIFIC) {
    const auto current = driver.ioctl_ulong(IOCTL_SMARTCARD_GET_ATTRIBUTE, SCARD_ATTR_CURRENT_PROTOCOL_TYPE, 4);
    const std::uint32_t protocol = ulong_at(current.output);
    if (current.status == STATUS_SUCCESS && (protocol & wanted) != 0) return {kSuccess, protocol};
    // Another protocol is in force: only a reset lets the card take the one asked for.
    for (const auto& [handle, connection] : connections_)
      if (connection.generation == reader_.generation && connection.share_mode != kShareDirect)
        return {kProtoMismatch, 0};
    reset_first = true;
  }
  if (reset_first || driver.state() < SCARD_NEGOTIABLE) {
    const auto power = driver.ioctl_ulong(IOCTL_SMARTCARD_POWER, SCARD_COLD_RESET, 64);
    if (power.status != STATUS_SUCCESS) return {scard_error_of(static_cast<std::uint32_t>(power.status)), 0};
    reader_.atr = power.output;
    reader_.mute = false;
  }
  const auto set = driver.ioctl_ulong(IOCTL_SMARTCARD_SET_PROTOCOL, wanted, 4);
  if (set.status == STATUS_NOT_SUPPORTED) return {kProtoMismatch, 0};
  if (set.status != STATUS_SUCCESS) return {scard_error_of(static_cast<std::uint32_t>(set.status)), 0};
  return {kSuccess, ulong_at(set.output)};
}

std::uint32_t ResourceManager::dispose(HostDriver& driver, std::uint32_t disposition) {
  IoctlResult reply;
  switch (disposition) {
    case kLeaveCard: return kSuccess;
    case kResetCard: reply = driver.ioctl_ulong(IOCTL_SMARTCARD_POWER, SCARD_WARM_RESET, 64); break;
    case kUnpowerCard: reply = driver.ioctl_ulong(IOCTL_SMARTCARD_POWER, SCARD_POWER_DOWN, 0); break;
    case kEjectCard: reply = driver.ioctl(IOCTL_SMARTCARD_EJECT, {}, 0); break;
    default: return kInvalidValue;
  }
  // A card that is gone needs no disposition.
  if (reply.status == STATUS_NO_MEDIA || reply.status == STATUS_INVALID_DEVICE_STATE) return kSuccess;
  return scard_error_of(static_cast<std::uint32_t>(reply.status));
}

std::optional<nlohmann::json> ResourceManager::handle(const std::string& call, const nlohmann::json& request) {
  if (call == "EstablishContext") {
    const auto context = next_handle_++;
    contexts_.insert(context);
    auto reply = reply_rv(kSuccess);
    reply["context"] = context;
    return reply;
  }
  if (call == "ReleaseContext") {
    const auto context = request.value("context", std::uint64_t{0});
    if (contexts_.erase(context) == 0) return reply_rv(kInvalidHandle);
    std::erase_if(connections_, [&](const auto& entry) { return entry.second.context == context; });
    return reply_rv(kSuccess);
  }
  if (call == "Cancel") {
    // Calls run one at a time here: there is never a blocked SCardGetStatusChange to cancel.
    return reply_rv(contexts_.count(request.value("context", std::uint64_t{0})) ? kSuccess : kInvalidHandle);
  }
  if (call == "ListReaders") {
    if (!contexts_.count(request.value("context", std::uint64_t{0}))) return reply_rv(kInvalidHandle);
    refresh();
    auto reply = reply_rv(reader_.available ? kSuccess : kNoReadersAvailable);
    reply["readers"] = reader_.available ? nlohmann::json::array({reader_.name}) : nlohmann::json::array();
    return reply;
  }
  if (call == "GetStatusChange") return get_status_change(request);
  if (call == "Connect") return connect(request);
  if (call == "Reconnect") return reconnect(request);
  if (call == "Disconnect") return disconnect(request);
  if (call == "BeginTransaction" || call == "EndTransaction") {
    Connection* connection = nullptr;
    return reply_rv(check_card(request.value("card", std::uint64_t{0}), connection));
  }
  if (call == "Transmit") return transmit(request, false);
  if (call == "TransmitRepeat") return transmit(request, true);
  if (call == "Status") return status(request);
  if (call == "GetAttrib") return get_attrib(request);
  if (call == "Control") return control(request);
  return std::nullopt;
}

nlohmann::json ResourceManager::get_status_change(const nlohmann::json& request) {
  if (!contexts_.count(request.value("context", std::uint64_t{0}))) return reply_rv(kInvalidHandle);
  const auto timeout_ms = request.value("timeout_ms", std::uint32_t{0});
  const auto wait =
      timeout_ms == 0xFFFFFFFF ? kLongestWait : std::min(kLongestWait, std::chrono::milliseconds(timeout_ms));
  const auto deadline = Clock::now() + wait;
  const auto readers = request.value("readers", nlohmann::json::array());
  for (;;) {
    refresh();
    auto states = nlohmann::json::array();
    bool changed = false;
    for (const auto& entry : readers) {
      const std::string name = entry.value("name", "");
      const auto current = entry.value("current_state", std::uint32_t{0});
      if (!reader_.available || name != reader_.name) return reply_rv(kUnknownReader);
      std::uint32_t event = reader_state_bits();
      // UNAWARE, other bits, or another event count than the caller saw: a change.
      const bool differs = current == 0 || (current & 0xFFFF & ~kStateChanged) != (event & 0xFFFF) ||
                           ((current >> 16) != 0 && (current >> 16) != (event >> 16));
      if (differs) event |= kStateChanged;
      changed = changed || differs;
      states.push_back(
          {{"name", name}, {"current_state", current}, {"event_state", event}, {"atr", wire_hex(reader_.atr)}});
    }
    if (changed || Clock::now() >= deadline) {
      auto reply = reply_rv(changed ? kSuccess : kTimeout);
      reply["readers"] = states;
      return reply;
    }
    device_.wait(std::chrono::milliseconds(5));
  }
}

nlohmann::json ResourceManager::connect(const nlohmann::json& request) {
  const auto context = request.value("context", std::uint64_t{0});
  if (!contexts_.count(context)) return reply_rv(kInvalidHandle);
  refresh();
  const auto [driver, generation] = device_.driver();
  if (!reader_.available || !driver || request.value("reader", "") != reader_.name) return reply_rv(kUnknownReader);
  const auto share = request.value("share_mode", kShareShared);
  const auto preferred = request.value("preferred_protocols", std::uint32_t{3});
  if (share < kShareExclusive || share > kShareDirect) return reply_rv(kInvalidValue);
  for (const auto& [handle, connection] : connections_) {
    if (connection.generation != reader_.generation) continue;
    if (connection.share_mode == kShareExclusive || share == kShareExclusive) return reply_rv(kSharingViolation);
  }
  std::uint32_t protocol = 0;
  if (share != kShareDirect || preferred != 0) {
    if (!reader_.present) return reply_rv(kNoSmartcard);
    if (reader_.mute) return reply_rv(kUnresponsiveCard);
    const auto [rv, active] = activate(*driver, preferred, false);
    if (rv != kSuccess) return reply_rv(rv);
    protocol = active;
  }
  const auto card = next_handle_++;
  connections_[card] = {context, share, protocol, reader_.events, reader_.generation};
  auto reply = reply_rv(kSuccess);
  reply["card"] = card;
  reply["active_protocol"] = protocol;
  return reply;
}

nlohmann::json ResourceManager::reconnect(const nlohmann::json& request) {
  Connection* connection = nullptr;
  const auto rv = check_card(request.value("card", std::uint64_t{0}), connection);
  // A handle whose card was removed may reconnect to the new card (PC/SC part 5).
  if (rv != kSuccess && rv != kRemovedCard) return reply_rv(rv);
  const auto [driver, generation] = device_.driver();
  if (!reader_.present) return reply_rv(kNoSmartcard);
  const auto initialization = request.value("initialization", kLeaveCard);
  const bool reset = initialization == kResetCard || initialization == kUnpowerCard;
  const auto [result, protocol] =
      activate(*driver, request.value("preferred_protocols", std::uint32_t{3}), reset || rv == kRemovedCard);
  if (result != kSuccess) return reply_rv(result);
  connection->protocol = protocol;
  connection->events_at_connect = reader_.events;
  connection->share_mode = request.value("share_mode", connection->share_mode);
  auto reply = reply_rv(kSuccess);
  reply["active_protocol"] = protocol;
  return reply;
}

nlohmann::json ResourceManager::disconnect(const nlohmann::json& request) {
  const auto card = request.value("card", std::uint64_t{0});
  Connection* connection = nullptr;
  const auto rv = check_card(card, connection);
  if (rv == kInvalidHandle) return reply_rv(rv);
  std::uint32_t result = kSuccess;
  const auto [driver, generation] = device_.driver();
  if (rv == kSuccess && driver) result = dispose(*driver, request.value("disposition", kLeaveCard));
  connections_.erase(card);
  return reply_rv(result);
}

nlohmann::json ResourceManager::transmit(const nlohmann::json& request, bool repeat) {
  Connection* connection = nullptr;
  const auto rv = check_card(request.value("card", std::uint64_t{0}), connection);
  if (rv != kSuccess) return reply_rv(rv);
  if (connection->share_mode == kShareDirect && connection->protocol == 0) return reply_rv(kProtoMismatch);
  const auto protocol = request.value("protocol", std::uint32_t{SCARD_PROTOCOL_T1});
  if (protocol != connection->protocol) return reply_rv(kProtoMismatch);
  const auto max_response = std::min(request.value("max_response", kMaxResponse), kMaxResponse);
  // The APDU goes to the driver as the application wrote it (no T=0 case 4 rewriting).
  const auto apdu = wire_bytes(request, "apdu");
  if (!apdu) return error_reply(apdu.error());
  Bytes input = ulong_bytes(protocol);
  for (auto b : ulong_bytes(8)) input.push_back(b);
  input.insert(input.end(), apdu->begin(), apdu->end());
  const auto [driver, generation] = device_.driver();
  NTSTATUS last_status = STATUS_SUCCESS;
  const auto one = [&, driver = driver]() -> std::pair<std::uint32_t, Bytes> {
    const auto reply = driver->ioctl(IOCTL_SMARTCARD_TRANSMIT, input, 8 + max_response);
    last_status = reply.status;
    if (reply.status != STATUS_SUCCESS) return {scard_error_of(static_cast<std::uint32_t>(reply.status)), {}};
    if (reply.output.size() < 8) return {kNotTransacted, {}};
    return {kSuccess, Bytes(reply.output.begin() + 8, reply.output.end())};
  };
  if (!repeat) {
    const auto [result, response] = one();
    auto reply = reply_rv(result, last_status);
    if (result == kSuccess) reply["response"] = wire_hex(response);
    return reply;
  }
  const auto count = request.value("count", 1u);
  const auto expect = request.value("expect", std::string());
  std::uint32_t done = 0, ok = 0, last = kSuccess;
  std::string first_bad;
  const auto started = Clock::now();
  for (; done < count; ++done) {
    const auto [result, response] = one();
    last = result;
    if (result != kSuccess) break;
    const auto text = wire_hex(response);
    if (expect.empty() || text == expect)
      ++ok;
    else if (first_bad.empty())
      first_bad = text;
  }
  auto reply = reply_rv(last, last_status);
  reply["count_done"] = done;
  reply["count_ok"] = ok;
  reply["elapsed_us"] = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count();
  if (!first_bad.empty()) reply["first_bad_response"] = first_bad;
  return reply;
}

nlohmann::json ResourceManager::status(const nlohmann::json& request) {
  Connection* connection = nullptr;
  const auto rv = check_card(request.value("card", std::uint64_t{0}), connection);
  if (rv != kSuccess) return reply_rv(rv);
  const auto [driver, generation] = device_.driver();
  auto reply = reply_rv(kSuccess);
  reply["reader"] = reader_.name;
  reply["state"] = driver->state();  // the Windows encoding (SCARD_ABSENT 1 ... SCARD_SPECIFIC 6)
  reply["protocol"] = connection->protocol;
  reply["atr"] = wire_hex(reader_.atr);
  return reply;
}

nlohmann::json ResourceManager::get_attrib(const nlohmann::json& request) {
  Connection* connection = nullptr;
  const auto rv = check_card(request.value("card", std::uint64_t{0}), connection);
  if (rv != kSuccess) return reply_rv(rv);
  const auto [driver, generation] = device_.driver();
  const auto max_len = std::min(request.value("max_len", 264u), 65536u);
  const auto reply = driver->ioctl_ulong(IOCTL_SMARTCARD_GET_ATTRIBUTE, request.value("attr", 0u), max_len);
  auto answer = reply_status(reply.status);
  if (reply.status == STATUS_SUCCESS) answer["value"] = wire_hex(reply.output);
  return answer;
}

nlohmann::json ResourceManager::control(const nlohmann::json& request) {
  Connection* connection = nullptr;
  const auto rv = check_card(request.value("card", std::uint64_t{0}), connection);
  if (rv != kSuccess && rv != kRemovedCard) return reply_rv(rv);
  const auto [driver, generation] = device_.driver();
  std::uint32_t code = request.value("code", 0u);
  // A case written for pcsc-lite sends its encoding of SCARD_CTL_CODE(n).
  if (code >= kPcscLiteCtlBase && code < kPcscLiteCtlBase + 4096) code = SCARD_CTL_CODE(code - kPcscLiteCtlBase);
  const auto max_response = std::min(request.value("max_response", 1024u), 65536u);
  const auto data = wire_bytes(request, "data");
  if (!data) return error_reply(data.error());
  const auto reply = driver->ioctl(code, *data, max_response);
  auto answer = reply_status(reply.status);
  if (reply.status == STATUS_SUCCESS) answer["response"] = wire_hex(reply.output);
  return answer;
}

}  // namespace readerlab::windows_model
