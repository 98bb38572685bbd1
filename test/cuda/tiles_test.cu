//===- tiles_test.cu - the shared-memory tile layouts, checked on the host ===//
//
// The layouts of runtime/cuda/attnc/flash_fwd.cuh that the GPU suite can only
// check end to end: every (row, chunk) has its own 16-byte slot inside the
// tile, the 8 rows an ldmatrix reads fall in 8 different bank groups, and the
// address arithmetic the kernels use in their unrolled loops (TileCopy's
// per-row steps, at()'s add-then-XOR) lands where offset() says; and the
// epilogue's staging of O (OutputStage) takes a warp's fragment writes
// without bank conflicts. Compiled by nvcc for the host; needs no GPU.
//
//===----------------------------------------------------------------------===//

#include "attnc/flash_fwd.cuh"

#include <cstdio>
#include <set>

using namespace attnc_cuda;

static int failures = 0;

#define EXPECT(cond, ...)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      if (++failures <= 20) {                                                  \
        std::printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
        std::printf(__VA_ARGS__);                                              \
        std::printf("\n");                                                     \
      }                                                                        \
    }                                                                          \
  } while (0)

template <class Tile> static void checkLayout(const char *name, int rows) {
  constexpr int chunks = Tile::kChunks;
  // Every (row, chunk) in its own 8-element slot inside the tile.
  std::set<int> slots;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < chunks; ++c) {
      int o = Tile::offset(r, c);
      EXPECT(o % 8 == 0 && o >= 0 && o + 8 <= Tile::elements(rows),
             "%s row %d chunk %d: offset %d", name, r, c, o);
      EXPECT(slots.insert(o).second,
             "%s row %d chunk %d: offset %d taken twice", name, r, c, o);
    }
  // The 8 rows of one ldmatrix (any 8 consecutive rows, one chunk) start in
  // 8 different 16-byte bank groups of the 128-byte bank line.
  for (int r0 = 0; r0 + 8 <= rows; ++r0)
    for (int c = 0; c < chunks; ++c) {
      unsigned groups = 0;
      for (int i = 0; i < 8; ++i)
        groups |= 1u << ((2 * Tile::offset(r0 + i, c) / 16) % 8);
      EXPECT(groups == 0xffu, "%s rows %d..%d chunk %d: bank groups %#x", name,
             r0, r0 + 7, c, groups);
    }
  // TileCopy: a thread's slot for row `row` plus the offset of row i * step
  // (step a multiple of 8) is its slot for row row + i * step.
  for (int step = 8; step < rows; step += 8)
    for (int row = 0; row < step; ++row)
      for (int c = 0; c < chunks; ++c)
        for (int r = row; r < rows; r += step)
          EXPECT(Tile::offset(r, c) ==
                     Tile::offset(row, c) + Tile::offset(r - row, 0),
                 "%s step %d row %d chunk %d", name, step, r, c);
  // at(): a lane's ldmatrix address for row lr, chunk lc (lc < 2, as the
  // kernels' lanes take them) moves to row lr + r, chunk lc + c for r a
  // multiple of 8 and c even, from a 128-byte aligned tile.
  const u32 base = 1024;
  for (int lr = 0; lr < 16 && lr < rows; ++lr)
    for (int lc = 0; lc < 2; ++lc) {
      u32 lane = base + 2 * Tile::offset(lr, lc);
      for (int r = 0; lr + r < rows; r += 8)
        for (int c = 0; lc + c < chunks; c += 2)
          EXPECT(Tile::at(lane, r, c) ==
                     base + 2 * u32(Tile::offset(lr + r, lc + c)),
                 "%s lane row %d chunk %d, +%d rows, +%d chunks: %u != %u",
                 name, lr, lc, r, c, Tile::at(lane, r, c),
                 base + 2 * u32(Tile::offset(lr + r, lc + c)));
    }
}

/// The epilogue's staging (OutputStage): a warp's fragment writes, lane l
/// writing values 2 (l % 4) and up of row l / 4 (plus constant row and
/// column offsets), meet no bank conflicts, and the stores out read every
/// 8 values of a row from a 16-byte aligned offset.
template <int COLS, int BYTES>
static void checkOutputStage(const char *name, int rows) {
  typedef OutputStage<COLS, BYTES> Stage;
  // Each lane writes two values (4 bytes as a 16-bit pair, 8 as two f32);
  // 8-byte accesses go as two half-warps. Within a phase, every bank once.
  const int lanesPerPhase = BYTES == 4 ? 16 : 32, words = 2 * BYTES / 4;
  for (int r0 = 0; r0 + 8 <= rows; r0 += 8)
    for (int c0 = 0; c0 < COLS; c0 += 8)
      for (int phase = 0; phase < 32 / lanesPerPhase; ++phase) {
        std::set<int> banks;
        for (int l = phase * lanesPerPhase; l < (phase + 1) * lanesPerPhase;
             ++l) {
          int o = Stage::offset(l / 4, 2 * (l % 4)) + Stage::offset(r0, c0);
          EXPECT(o == Stage::offset(r0 + l / 4, c0 + 2 * (l % 4)),
                 "%s: offset not linear", name);
          EXPECT(o % (2 * BYTES) == 0,
                 "%s rows %d col %d lane %d: offset %d misaligned", name, r0,
                 c0, l, o);
          for (int w = 0; w < words; ++w)
            banks.insert((o / 4 + w) % 32);
        }
        EXPECT(int(banks.size()) == lanesPerPhase * words,
               "%s rows %d..%d cols %d..: %d banks for %d words", name, r0,
               r0 + 7, c0, int(banks.size()), lanesPerPhase * words);
      }
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < COLS; c += 8) {
      int o = Stage::offset(r, c);
      EXPECT(o % 16 == 0 && o + 16 <= Stage::bytes(rows),
             "%s row %d col %d: offset %d", name, r, c, o);
    }
}

int main() {
  // K and V tiles (StreamedTile: swizzled at multiples of 64 columns) and
  // Q tiles (padded), at the head dims the kernels take and their key tiles.
  checkLayout<StreamedTile<64>>("streamed 64", 128);
  checkLayout<StreamedTile<128>>("streamed 128", 48);
  checkLayout<StreamedTile<192>>("streamed 192", 64);
  checkLayout<StreamedTile<256>>("streamed 256", 64);
  checkLayout<PaddedTile<64>>("padded 64", 128);
  checkLayout<PaddedTile<128>>("padded 128", 128);
  checkLayout<PaddedTile<192>>("padded 192", 128);
  checkLayout<PaddedTile<256>>("padded 256", 64);
  checkLayout<PaddedTile<96>>("padded 96", 64);
  // The epilogue's stages at the value head dims the kernels take (a warp's
  // 32 or 16 rows), packed 16-bit and f32.
  checkOutputStage<64, 2>("stage 64 x 16-bit", 32);
  checkOutputStage<128, 2>("stage 128 x 16-bit", 32);
  checkOutputStage<256, 2>("stage 256 x 16-bit", 16);
  checkOutputStage<64, 4>("stage 64 x f32", 32);
  checkOutputStage<128, 4>("stage 128 x f32", 32);
  checkOutputStage<256, 4>("stage 256 x f32", 16);
  if (failures)
    std::printf("%d check(s) failed\n", failures);
  else
    std::printf("tile layouts: all checks passed\n");
  return failures != 0;
}
