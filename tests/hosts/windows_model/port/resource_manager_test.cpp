// The resource manager model over the reference RDF driver, through the host port as the
// cases reach it (send, then wait): readers, card events, connections, dispositions, and the
// IOCTLs each call causes.
#include "hosts/windows_model/port/rdf_port.h"
#include "hosts/windows_model/rdf/rdf_registry.h"

#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>

using nlohmann::json;
using readerlab::windows_model::RdfPort;
using readerlab::windows_model::RdfTransport;

namespace {

constexpr std::uint32_t kStateChanged = 0x2, kStateEmpty = 0x10, kStatePresent = 0x20, kStateInUse = 0x100,
                        kStateExclusive = 0x80, kStateMute = 0x200;

struct Lab {
  boost::asio::io_context io;
  readerlab::scenarios::Rig rig{io, nullptr};
  std::filesystem::path socket =
      std::filesystem::temp_directory_path() / ("readerlab-rm-test-" + std::to_string(::getpid()) + ".sock");
  std::unique_ptr<RdfPort> port;

  explicit Lab(RdfTransport transport = RdfTransport::in_process) {
    readerlab::usbredir::SocketAddress address;
    address.is_unix = true;
    address.path = socket.string();
    rig.add_reader(address);
    port = std::make_unique<RdfPort>(rig, transport, *readerlab::windows_model::find_rdf_driver("reference-rdf"));
    port->begin_case();
  }
  ~Lab() {
    port.reset();
    std::error_code ignored;
    std::filesystem::remove(socket, ignored);
  }
  json call(const std::string& name, json args = json::object()) {
    args["call"] = name;
    const auto id = port->send(args);
    auto reply = port->wait(id, std::chrono::seconds(30));
    REQUIRE(reply.has_value());
    return *reply;
  }
  std::uint64_t context() { return call("EstablishContext")["context"].get<std::uint64_t>(); }
  std::string reader(std::uint64_t context) {
    const auto readers = call("ListReaders", {{"context", context}})["readers"];
    REQUIRE(readers.size() == 1);
    return readers[0].get<std::string>();
  }
  json status_change(std::uint64_t context, const std::string& name, std::uint32_t current, std::uint32_t timeout_ms) {
    return call("GetStatusChange", {{"context", context},
                                    {"timeout_ms", timeout_ms},
                                    {"readers", json::array({{{"name", name}, {"current_state", current}}})}});
  }
};

std::vector<std::string> ioctls_of(const json& reply) {
  std::vector<std::string> names;
  if (reply.contains("ioctls"))
    for (const auto& name : reply["ioctls"]) names.push_back(name.get<std::string>());
  return names;
}

bool has(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

TEST_CASE("the reader is named from the driver's attributes, as Windows names it") {
  Lab lab;
  const auto context = lab.context();
  CHECK(lab.reader(context) == "readerlab Reference RDF CCID 0");
  CHECK(lab.call("ListReaders", {{"context", 999}})["rv_name"] == "SCARD_E_INVALID_HANDLE");
}

TEST_CASE("card events: an insertion counts once, the ATR comes from a cold reset, and an unchanged state waits") {
  Lab lab;
  const auto context = lab.context();
  const auto name = lab.reader(context);
  auto first = lab.status_change(context, name, 0, 0);
  REQUIRE(first["rv_name"] == "SCARD_S_SUCCESS");
  const auto empty = first["readers"][0]["event_state"].get<std::uint32_t>();
  CHECK((empty & kStateEmpty) != 0);
  CHECK((empty & kStateChanged) != 0);

  // The same state again: no change within the timeout.
  const auto same = lab.status_change(context, name, empty & ~kStateChanged, 50);
  CHECK(same["rv_name"] == "SCARD_E_TIMEOUT");

  // Sent before the insertion, answered after it: the change with the ATR, one event more.
  const auto id =
      lab.port->send({{"call", "GetStatusChange"},
                      {"context", context},
                      {"timeout_ms", 2000},
                      {"readers", json::array({{{"name", name}, {"current_state", empty & ~kStateChanged}}})}});
  lab.rig.insert(0, "t1-fs");
  const auto change = *lab.port->wait(id, std::chrono::seconds(5));
  REQUIRE(change["rv_name"] == "SCARD_S_SUCCESS");
  const auto present = change["readers"][0]["event_state"].get<std::uint32_t>();
  CHECK((present & kStatePresent) != 0);
  CHECK((present >> 16) == (empty >> 16) + 1);
  CHECK(change["readers"][0]["atr"] == "3b9b138131fe4580597265616465726c616230");
  CHECK(has(ioctls_of(change), "IOCTL_SMARTCARD_POWER"));
  CHECK(has(ioctls_of(change), "IOCTL_SMARTCARD_IS_ABSENT"));  // tracking re-armed for the removal
}

TEST_CASE("connect powers and selects the protocol; transmit; a removed card's handle stays removed") {
  Lab lab;
  lab.rig.insert(0, "t1-fs");
  const auto context = lab.context();
  const auto name = lab.reader(context);
  const auto connected =
      lab.call("Connect", {{"context", context}, {"reader", name}, {"share_mode", 2}, {"preferred_protocols", 3}});
  REQUIRE(connected["rv_name"] == "SCARD_S_SUCCESS");
  CHECK(connected["active_protocol"] == 2);
  CHECK(has(ioctls_of(connected), "IOCTL_SMARTCARD_SET_PROTOCOL"));
  const auto card = connected["card"].get<std::uint64_t>();

  const auto echo = lab.call("Transmit", {{"card", card}, {"protocol", 2}, {"apdu", "8010000002a1a200"}});
  CHECK(echo["response"] == "a1a29000");
  CHECK(ioctls_of(echo) == std::vector<std::string>{"IOCTL_SMARTCARD_TRANSMIT"});
  CHECK(lab.call("Transmit", {{"card", card}, {"protocol", 1}, {"apdu", "00a4000000"}})["rv_name"] ==
        "SCARD_E_PROTO_MISMATCH");
  const auto in_use = lab.status_change(context, name, 0, 0)["readers"][0]["event_state"].get<std::uint32_t>();
  CHECK((in_use & kStateInUse) != 0);

  // A second connection is shared; an exclusive one is refused while it exists.
  CHECK(lab.call("Connect", {{"context", context}, {"reader", name}, {"share_mode", 1}})["rv_name"] ==
        "SCARD_E_SHARING_VIOLATION");

  lab.rig.remove(0);
  CHECK(lab.call("Transmit", {{"card", card}, {"protocol", 2}, {"apdu", "0084000008"}})["rv_name"] ==
        "SCARD_W_REMOVED_CARD");
  lab.rig.insert(0, "t1-fs");
  // Another card in the same reader is not the one the handle was connected to.
  CHECK(lab.call("Transmit", {{"card", card}, {"protocol", 2}, {"apdu", "0084000008"}})["rv_name"] ==
        "SCARD_W_REMOVED_CARD");
  CHECK(lab.call("Disconnect", {{"card", card}})["rv_name"] == "SCARD_S_SUCCESS");
  CHECK(lab.call("Disconnect", {{"card", card}})["rv_name"] == "SCARD_E_INVALID_HANDLE");
}

TEST_CASE("dispositions are POWER and EJECT requests; an exclusive connection shows as EXCLUSIVE") {
  Lab lab;
  lab.rig.insert(0, "t1-fs");
  const auto context = lab.context();
  const auto name = lab.reader(context);
  auto connect = [&](int share) {
    const auto reply = lab.call("Connect", {{"context", context}, {"reader", name}, {"share_mode", share}});
    REQUIRE(reply["rv_name"] == "SCARD_S_SUCCESS");
    return reply["card"].get<std::uint64_t>();
  };
  const auto exclusive = connect(1);
  const auto state = lab.status_change(context, name, 0, 0)["readers"][0]["event_state"].get<std::uint32_t>();
  CHECK((state & kStateExclusive) != 0);
  const auto unpower = lab.call("Disconnect", {{"card", exclusive}, {"disposition", 2}});
  CHECK(unpower["rv_name"] == "SCARD_S_SUCCESS");
  CHECK(has(ioctls_of(unpower), "IOCTL_SMARTCARD_POWER"));
  CHECK_FALSE(lab.rig.reader(0).reader->card_powered());

  const auto card = connect(2);
  CHECK(lab.rig.reader(0).reader->card_powered());
  // The reference driver has no mechanics: EJECT is refused and reported as such.
  const auto eject = lab.call("Disconnect", {{"card", card}, {"disposition", 3}});
  CHECK(has(ioctls_of(eject), "IOCTL_SMARTCARD_EJECT"));
  CHECK(eject["rv_name"] == "SCARD_E_UNSUPPORTED_FEATURE");
  CHECK(eject["rv_name"] != "SCARD_S_SUCCESS");
}

TEST_CASE("a mute card is reported MUTE and refuses connections; no card gives NO_SMARTCARD") {
  Lab lab;
  const auto context = lab.context();
  const auto name = lab.reader(context);
  CHECK(lab.call("Connect", {{"context", context}, {"reader", name}})["rv_name"] == "SCARD_E_NO_SMARTCARD");
  CHECK(lab.call("Connect", {{"context", context}, {"reader", "no such reader"}})["rv_name"] ==
        "SCARD_E_UNKNOWN_READER");
  lab.rig.insert(0, "mute");
  const auto state = lab.status_change(context, name, 0, 0)["readers"][0]["event_state"].get<std::uint32_t>();
  CHECK((state & (kStatePresent | kStateMute)) == (kStatePresent | kStateMute));
  CHECK(lab.call("Connect", {{"context", context}, {"reader", name}})["rv_name"] == "SCARD_W_UNRESPONSIVE_CARD");
}

TEST_CASE("an unplugged reader leaves the list; plugged in again it is a new device with a fresh event count") {
  Lab lab(RdfTransport::usbredir);
  lab.rig.insert(0, "t1-fs");
  const auto context = lab.context();
  const auto name = lab.reader(context);
  lab.rig.unplug(0);
  const auto gone = lab.call("ListReaders", {{"context", context}});
  CHECK(gone["rv_name"] == "SCARD_E_NO_READERS_AVAILABLE");
  CHECK(gone["readers"].empty());
  lab.rig.replug(0);
  CHECK(lab.reader(context) == name);
  const auto card = lab.call("Connect", {{"context", context}, {"reader", name}});
  CHECK(card["rv_name"] == "SCARD_S_SUCCESS");
  CHECK(lab.call("Transmit", {{"card", card["card"]}, {"protocol", 2}, {"apdu", "8010000001ee00"}})["response"] ==
        "ee9000");
}

TEST_CASE("Control maps pcsc-lite's SCARD_CTL_CODE to the Windows one; guest-only calls are refused") {
  Lab lab;
  lab.rig.insert(0, "t1-fs");
  const auto context = lab.context();
  const auto name = lab.reader(context);
  const auto card = lab.call("Connect", {{"context", context}, {"reader", name}})["card"];
  // pcsc-lite's SCARD_CTL_CODE(3400) = 0x42000D48: PC/SC part 10 GET_FEATURE_REQUEST.
  const auto features = lab.call("Control", {{"card", card}, {"code", 0x42000D48u}, {"data", ""}});
  CHECK(features["rv_name"] == "SCARD_S_SUCCESS");
  CHECK(has(ioctls_of(features), "SCARD_CTL_CODE(3400)"));
  CHECK(features["response"].get<std::string>().substr(0, 4) == "1304");  // FEATURE_CCID_ESC_COMMAND, 4 bytes
  const auto exec = lab.call("Exec", {{"command", "true"}});
  CHECK(exec["rv"].is_null());
  CHECK(exec["error"].get<std::string>().find("Exec") != std::string::npos);
}

TEST_CASE("hex that is not hex is refused with the field it came in, and no IOCTL is sent") {
  Lab lab;
  lab.rig.insert(0, "t1-fs");
  const auto context = lab.context();
  const auto name = lab.reader(context);
  const auto card = lab.call("Connect", {{"context", context}, {"reader", name}})["card"];
  const auto transmit = lab.call("Transmit", {{"card", card}, {"protocol", 2}, {"apdu", "00a40"}});
  CHECK(transmit["rv"].is_null());
  CHECK(transmit["error"].get<std::string>().find("apdu: ") == 0);
  CHECK_FALSE(transmit.contains("ioctls"));
  const auto control = lab.call("Control", {{"card", card}, {"code", 0x42000D48u}, {"data", "zz"}});
  CHECK(control["rv"].is_null());
  CHECK(control["error"].get<std::string>().find("data: ") == 0);
  const auto ioctl = lab.call("Ioctl", {{"code", IOCTL_SMARTCARD_GET_STATE}, {"input", "0"}, {"output_size", 4}});
  CHECK(ioctl["rv"].is_null());
  CHECK(ioctl["error"].get<std::string>().find("input: ") == 0);
  // Upper-case hex is hex: the reply is lowercase, as the guest agent writes it.
  CHECK(lab.call("Transmit", {{"card", card}, {"protocol", 2}, {"apdu", "8010000001EE00"}})["response"] == "ee9000");
}

TEST_CASE("an Ioctl without a usable code, or with a field of the wrong type, is refused by name") {
  Lab lab;
  const auto missing = lab.call("Ioctl", {{"output_size", 4}});
  CHECK(missing["rv"].is_null());
  CHECK(missing["error"].get<std::string>().find("code: ") == 0);
  const auto negative = lab.call("Ioctl", {{"code", -1}, {"output_size", 4}});
  CHECK(negative["error"].get<std::string>().find("code: ") == 0);
  const auto wrong_type = lab.call("Ioctl", {{"code", IOCTL_SMARTCARD_GET_STATE}, {"output_size", "four"}});
  CHECK(wrong_type["rv"].is_null());
  CHECK(wrong_type["error"].get<std::string>().find("Ioctl: ") == 0);
  // A call name that is not a string: refused as a "request", the port stays up.
  const auto id = lab.port->send({{"call", 7}});
  const auto unnamed = lab.port->wait(id, std::chrono::seconds(30));
  REQUIRE(unnamed.has_value());
  CHECK((*unnamed)["rv"].is_null());
  CHECK((*unnamed)["error"].get<std::string>().find("request: ") == 0);
  // The port still answers a well-formed call afterwards; a Lua number may arrive as a float.
  CHECK(lab.call("Ioctl", {{"code", IOCTL_SMARTCARD_GET_STATE}, {"output_size", 4}})["rv_name"] == "STATUS_SUCCESS");
  CHECK(lab.call("Ioctl", {{"code", double{IOCTL_SMARTCARD_GET_STATE}}, {"output_size", 4}})["rv_name"] ==
        "STATUS_SUCCESS");
  CHECK(lab.call("Ioctl", {{"code", 0.5}, {"output_size", 4}})["error"].get<std::string>().find("code: ") == 0);
}
