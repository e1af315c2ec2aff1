#include "collectives/hier_layout.h"

#include <algorithm>

namespace isthmus::coll {

Range splitRange(Range whole, size_t parts, size_t i) {
  size_t n = whole.size();
  size_t base = n / parts, extra = n % parts;
  size_t begin = whole.begin + i * base + std::min(i, extra);
  return Range{begin, begin + base + (i < extra ? 1 : 0)};
}

HierLayout::HierLayout(std::vector<int> centerSizes, int center, int localRank, size_t count,
                       size_t chunkElems)
    : centerSizes_(std::move(centerSizes)), center_(center), localRank_(localRank), count_(count) {
  slots_ = *std::max_element(centerSizes_.begin(), centerSizes_.end());
  chunkElems = std::max<size_t>(chunkElems, 1);
  chunkElems = std::max(chunkElems, (count + kMaxChunks - 1) / kMaxChunks);
  chunkElems_ = chunkElems;
  numChunks_ = (count + chunkElems - 1) / chunkElems;
  r1ChunkOffset_.resize(numChunks_ + 1, 0);
  r2Offset_.assign(numChunks_ * static_cast<size_t>(slots_), 0);
  size_t r1 = 0, r2 = 0;
  for (size_t i = 0; i < numChunks_; ++i) {
    r1ChunkOffset_[i] = r1;
    r1 += segment(i, center_, localRank_).size();
    for (int j = firstSlot(center_, localRank_); j < lastSlot(center_, localRank_); ++j) {
      r2Offset_[i * slots_ + j] = r2;
      r2 += piece(i, j, center_).size();
    }
  }
  r1ChunkOffset_[numChunks_] = r1;
  r1Size_ = r1;
  r2Size_ = r2;
}

Range HierLayout::chunk(size_t i) const {
  size_t begin = i * chunkElems_;
  return Range{begin, std::min(count_, begin + chunkElems_)};
}

Range HierLayout::slot(size_t i, int j) const { return splitRange(chunk(i), slots_, j); }

Range HierLayout::piece(size_t i, int j, int p) const {
  return splitRange(slot(i, j), centerSizes_.size(), p);
}

int HierLayout::slotOwner(int c, int j) const {
  return static_cast<int>(static_cast<int64_t>(j) * centerSizes_[c] / slots_);
}

int HierLayout::firstSlot(int c, int l) const {
  // The smallest j with floor(j * k / K) >= l, i.e. ceil(l * K / k).
  int64_t k = centerSizes_[c];
  return static_cast<int>((static_cast<int64_t>(l) * slots_ + k - 1) / k);
}

int HierLayout::lastSlot(int c, int l) const { return firstSlot(c, l + 1); }

Range HierLayout::segment(size_t i, int c, int l) const {
  int a = firstSlot(c, l), b = lastSlot(c, l);
  if (a >= b) {
    Range s = slot(i, std::min(a, slots_ - 1));
    return Range{s.begin, s.begin};
  }
  return Range{slot(i, a).begin, slot(i, b - 1).end};
}

std::vector<Range> HierLayout::localSegments(size_t i) const {
  std::vector<Range> out;
  for (int l = 0; l < centerSizes_[center_]; ++l) out.push_back(segment(i, center_, l));
  return out;
}

size_t HierLayout::residual1Offset(size_t i, int j) const {
  return r1ChunkOffset_[i] + (slot(i, j).begin - segment(i, center_, localRank_).begin);
}

size_t HierLayout::residual2Offset(size_t i, int j) const { return r2Offset_[i * slots_ + j]; }

}  // namespace isthmus::coll
