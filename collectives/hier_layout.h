// HierLayout: how the hierarchical allreduce cuts a tensor of `count` elements into chunks,
// slots and pieces, and who owns what. Pure arithmetic, shared by every rank so all agree.
//
//   chunk i   : a contiguous range of the tensor; chunks flow through the pipeline.
//   slot j    : the chunk is split evenly into K = max(center sizes) slots. In center c (k_c
//               ranks) slot j belongs to local rank floor(j * k_c / K), so every rank owns a
//               contiguous run of slots (its *segment* of the chunk); unequal centers simply give
//               some ranks more slots than others.
//   piece p   : a slot is split evenly into C pieces (one per center). For slot j the inter group
//               is the slot's owner in every center; piece p is reduced by center p's owner.
// The intra reduce-scatter leaves each rank its segment, summed over the center; the inter tier
// exchanges each slot among its group; the intra all-gather spreads the segments back.
//
// Error-feedback state is laid out by this plan: residual 1 covers this rank's segments (all
// chunks, in order), residual 2 the pieces it reduces. Their offsets are part of the layout so
// they are stable across calls with the same count and topology.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace isthmus::coll {

struct Range {
  size_t begin = 0;
  size_t end = 0;
  size_t size() const { return end - begin; }
  bool empty() const { return end == begin; }
};

// The i-th of `parts` balanced sub-ranges of [begin, end) (sizes differ by at most one).
Range splitRange(Range whole, size_t parts, size_t i);

class HierLayout {
 public:
  // At most this many chunks (the tag space holds 11 bits of chunk index).
  static constexpr size_t kMaxChunks = 2047;

  // centerSizes: ranks per center; (center, localRank): this rank; chunkElems: pipeline chunk.
  HierLayout(std::vector<int> centerSizes, int center, int localRank, size_t count,
             size_t chunkElems);

  int numCenters() const { return static_cast<int>(centerSizes_.size()); }
  int center() const { return center_; }
  int localRank() const { return localRank_; }
  int centerSize(int c) const { return centerSizes_[c]; }
  int numSlots() const { return slots_; }
  size_t count() const { return count_; }
  size_t chunkElems() const { return chunkElems_; }
  size_t numChunks() const { return numChunks_; }

  Range chunk(size_t i) const;
  Range slot(size_t i, int j) const;
  Range piece(size_t i, int j, int p) const;
  // The local rank of center c that owns slot j.
  int slotOwner(int c, int j) const;
  // Slots [first, last) owned by local rank l of center c.
  int firstSlot(int c, int l) const;
  int lastSlot(int c, int l) const;
  // The part of chunk i that local rank l of center c owns (possibly empty).
  Range segment(size_t i, int c, int l) const;
  // Segments of every local rank of this rank's center, for the intra ring.
  std::vector<Range> localSegments(size_t i) const;

  // Residual offsets (elements) for this rank: where slot j of chunk i starts in residual 1, and
  // where this rank's piece of slot j of chunk i starts in residual 2.
  size_t residual1Offset(size_t i, int j) const;
  size_t residual2Offset(size_t i, int j) const;
  size_t residual1Size() const { return r1Size_; }
  size_t residual2Size() const { return r2Size_; }

 private:
  std::vector<int> centerSizes_;
  int center_;
  int localRank_;
  int slots_;
  size_t count_;
  size_t chunkElems_;
  size_t numChunks_;
  std::vector<size_t> r1ChunkOffset_;
  std::vector<size_t> r2Offset_;  // [chunk * numSlots + slot], only owned slots meaningful
  size_t r1Size_ = 0;
  size_t r2Size_ = 0;
};

}  // namespace isthmus::coll
