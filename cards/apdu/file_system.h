// The file tree of an ISO 7816-4 card (ISO 7816-4 5.3): the MF, DFs (with an FID, a DF name
// or both, nested to any depth) and EFs (transparent or record-oriented), built once from a
// profile and then changed in place by UPDATE/APPEND commands.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cards/card.h"

namespace readerlab::cards {

// EF structures, ISO 7816-4 5.3.1.2 (file descriptor byte, Table 14).
enum class FileStructure { transparent, linear_fixed, linear_variable, cyclic };

struct ElementaryFile {
  std::uint16_t fid = 0;
  Bytes contents;                   // a transparent EF: its size is fixed by the profile
  std::optional<std::uint8_t> sfi;  // short EF identifier 1..30
  bool update_needs_pin = false;    // UPDATE/APPEND need the PIN verified (else 6982)
  FileStructure structure = FileStructure::transparent;
  std::vector<Bytes> records;   // record EFs: record 1 first
  std::size_t record_size = 0;  // fixed/cyclic: every record's size; variable: the most
  std::size_t max_records = 0;  // capacity for APPEND RECORD (0: records.size())
  bool read_needs_pin = false;  // READ needs the PIN verified (else 6982)
};

// A DF. Historically an "application" selected by DF name (its AID); it may also carry an
// FID, EFs and further DFs.
struct CardApplication {
  Bytes aid;              // DF name used by SELECT P1=04, ISO 7816-4 8.2.1.2 (may be empty)
  std::string label;      // encoded as tag 50 inside the FCI proprietary template A5
  Bytes fci_proprietary;  // further BER-TLV objects appended inside A5
  std::optional<std::uint16_t> fid;
  std::vector<ElementaryFile> files;
  std::vector<CardApplication> applications;  // nested DFs
};

class FileSystem {
 public:
  using NodeId = std::size_t;
  static constexpr NodeId kMasterFile = 0;
  static constexpr std::uint16_t kMasterFileFid = 0x3F00;  // ISO 7816-4 5.3.1.1

  struct Node {
    bool is_df = false;
    std::optional<std::uint16_t> fid;  // the MF's is 3F00
    NodeId parent = kMasterFile;       // the MF is its own parent
    std::vector<NodeId> children;
    CardApplication df;  // DF attributes (its files/applications lists stay empty)
    ElementaryFile ef;   // EF attributes and contents
  };

  FileSystem(const std::vector<ElementaryFile>& mf_files, const std::vector<CardApplication>& dfs);

  const Node& node(NodeId id) const { return nodes_[id]; }
  Node& node(NodeId id) { return nodes_[id]; }
  std::size_t size() const { return nodes_.size(); }  // nodes are numbered in tree order

  std::optional<NodeId> child(NodeId df, std::uint16_t fid) const;
  std::optional<NodeId> child_ef_by_sfi(NodeId df, std::uint8_t sfi) const;
  // SELECT P1=00, ISO 7816-4 7.1.1: the current DF itself, its children, its parent, the
  // parent's children; then (a common card habit) the MF's children.
  std::optional<NodeId> find_from(NodeId current_df, std::uint16_t fid) const;
  // The first EF with this FID anywhere (tree order), for inspection.
  std::optional<NodeId> find_ef_anywhere(std::uint16_t fid) const;

 private:
  NodeId add(NodeId parent, Node node);
  void add_df(NodeId parent, const CardApplication& df);
  std::vector<Node> nodes_;
};

}  // namespace readerlab::cards
