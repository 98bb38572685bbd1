//===- MaskPng.cpp - a mask grid written as a PNG -------------------------===//

#include "MaskPng.h"
#include "Support/Error.h"

#include <png.h>

#include <algorithm>
#include <array>
#include <cstring>

using namespace attnc;

static std::array<uint8_t, 3> getColour(Cell cell) {
  switch (cell) {
  case Cell::Full:
    return {0x1f, 0x77, 0xb4};
  case Cell::Partial:
    return {0xff, 0x7f, 0x0e};
  case Cell::Skipped:
    break;
  }
  return {0xf0, 0xf0, 0xf0};
}

llvm::Expected<PngLayout> attnc::writeGridPng(llvm::StringRef path,
                                              const MaskGrid &grid,
                                              int64_t maxSide) {
  Downsampled small = downsample(grid, maxSide, maxSide);
  const MaskGrid &cells = small.grid;
  PngLayout layout;
  layout.rowStep = small.rowStep, layout.colStep = small.colStep;
  layout.cellPixels =
      std::clamp<int64_t>(maxSide / std::max(cells.rows, cells.cols), 1, 8);
  layout.width = cells.cols * layout.cellPixels;
  layout.height = cells.rows * layout.cellPixels;

  std::vector<uint8_t> pixels(layout.width * layout.height * 3);
  for (int64_t y = 0; y < layout.height; ++y)
    for (int64_t x = 0; x < layout.width; ++x) {
      auto rgb =
          getColour(cells.at(y / layout.cellPixels, x / layout.cellPixels));
      std::memcpy(&pixels[(y * layout.width + x) * 3], rgb.data(), 3);
    }

  // libpng's simplified API: errors come back in `image.message`.
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  image.width = png_uint_32(layout.width);
  image.height = png_uint_32(layout.height);
  image.format = PNG_FORMAT_RGB;
  std::string file = path.str();
  if (!png_image_write_to_file(&image, file.c_str(), /*convert_to_8bit=*/0,
                               pixels.data(), /*row_stride=*/0,
                               /*colormap=*/nullptr))
    return makeError("cannot write '" + path + "': " + image.message);
  png_image_free(&image);
  return layout;
}
