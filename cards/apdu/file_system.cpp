#include "cards/apdu/file_system.h"

namespace readerlab::cards {

FileSystem::FileSystem(const std::vector<ElementaryFile>& mf_files, const std::vector<CardApplication>& dfs) {
  Node master;
  master.is_df = true;
  master.fid = kMasterFileFid;
  nodes_.push_back(std::move(master));
  for (const auto& file : mf_files) {
    Node ef;
    ef.fid = file.fid;
    ef.ef = file;
    add(kMasterFile, std::move(ef));
  }
  for (const auto& df : dfs) add_df(kMasterFile, df);
}

FileSystem::NodeId FileSystem::add(NodeId parent, Node node) {
  node.parent = parent;
  nodes_.push_back(std::move(node));
  const NodeId id = nodes_.size() - 1;
  nodes_[parent].children.push_back(id);
  return id;
}

void FileSystem::add_df(NodeId parent, const CardApplication& df) {
  Node node;
  node.is_df = true;
  node.fid = df.fid;
  node.df.aid = df.aid;
  node.df.label = df.label;
  node.df.fci_proprietary = df.fci_proprietary;
  node.df.fid = df.fid;
  const NodeId id = add(parent, std::move(node));
  for (const auto& file : df.files) {
    Node ef;
    ef.fid = file.fid;
    ef.ef = file;
    add(id, std::move(ef));
  }
  for (const auto& child_df : df.applications) add_df(id, child_df);
}

std::optional<FileSystem::NodeId> FileSystem::child(NodeId df, std::uint16_t fid) const {
  for (NodeId id : nodes_[df].children) {
    if (nodes_[id].fid == fid) return id;
  }
  return std::nullopt;
}

std::optional<FileSystem::NodeId> FileSystem::child_ef_by_sfi(NodeId df, std::uint8_t sfi) const {
  for (NodeId id : nodes_[df].children) {
    if (!nodes_[id].is_df && nodes_[id].ef.sfi == sfi) return id;
  }
  return std::nullopt;
}

std::optional<FileSystem::NodeId> FileSystem::find_from(NodeId current_df, std::uint16_t fid) const {
  if (fid == kMasterFileFid) return kMasterFile;
  if (nodes_[current_df].fid == fid) return current_df;
  if (auto found = child(current_df, fid)) return found;
  const NodeId parent = nodes_[current_df].parent;
  if (nodes_[parent].fid == fid) return parent;
  if (auto found = child(parent, fid)) return found;
  return child(kMasterFile, fid);
}

std::optional<FileSystem::NodeId> FileSystem::find_ef_anywhere(std::uint16_t fid) const {
  for (NodeId id = 0; id < nodes_.size(); ++id) {
    if (!nodes_[id].is_df && nodes_[id].fid == fid) return id;
  }
  return std::nullopt;
}

}  // namespace readerlab::cards
