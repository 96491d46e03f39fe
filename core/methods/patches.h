#pragma once
// The 3x3 patch grid that relative patch location (Doersch et al. 2015) and jigsaw puzzles
// (Noroozi & Favaro 2016) share: fitting the image to the grid, jittered patch extraction, the
// colour defence against chromatic aberration, and laying patches out again for the viewers.
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <cstdint>
#include <string>

namespace pretext {

// Nine square patches of `patch` pixels on a 3x3 grid, `gap` pixels apart, each shifted by up to
// +-`jitter` pixels on both axes. The image is first resized to side() pixels: the three patches,
// the two gaps and the jitter at both ends then fit exactly (cell (r, c) starts at
// jitter + r (patch + gap) + its shift). Two neighbours are at least gap - 2 jitter pixels apart.
struct PatchGrid {
  int64_t patch = 12, gap = 4, jitter = 1;
  int64_t side() const { return 3 * patch + 2 * gap + 2 * jitter; }
  // Throws pretext::Error naming method.params.<name> (patch >= 8 for the ConvNet, gap >= 0,
  // 0 <= 2 jitter <= gap so patches never overlap).
  void validate(const std::string& method) const;
};
// The grid from a patch method's resolved parameters (patch_size, gap, jitter), validated; refuses
// the vit backbone (built for whole images, it cannot take small patches).
PatchGrid patchGridFromParams(const nlohmann::json& params, const std::string& backbone,
                              const std::string& method);

// The 8 neighbours of the centre cell (4), in row-major order: label k <-> cell kNeighbourCell[k].
extern const int64_t kNeighbourCell[8];
extern const char* const kNeighbourName[8];  // "NW", "N", "NE", "W", "E", "SW", "S", "SE"

// Bilinear resize of [B,C,H,W] images to [B,C,side,side] (the images themselves when they fit).
torch::Tensor fitToGrid(const torch::Tensor& images, const PatchGrid& grid);
// Random shifts [B,9,2] int64 (dy, dx) in [-jitter, jitter], drawn on the CPU from `gen`.
torch::Tensor randomShifts(int64_t batch, const PatchGrid& grid, torch::Generator& gen);
// The nine patches of each image: images [B,C,side,side], shifts [B,9,2] (any device; CPU is
// fine) -> [B,9,C,patch,patch], cells in row-major order. Patch t of image b is exactly
// images[b, :, y:y+patch, x:x+patch] with y = jitter + (t/3)(patch+gap) + shifts[b,t,0] (x alike).
torch::Tensor extractPatches(const torch::Tensor& images, const PatchGrid& grid,
                             const torch::Tensor& shifts);
// Lays nine patches [B,9,C,P,P] out on a 3x3 grid with `sep` pixels of `fill` between them:
// [B,C,3P+2sep,3P+2sep]. With sep = 0 it inverts extractPatches of a gap-0, jitter-0 grid.
torch::Tensor assemblePatches(const torch::Tensor& patches, int64_t sep, double fill = 0.5);

// The defence against the chromatic-aberration shortcut, per patch, on patches [..., C, P, P]:
//  "none": unchanged; "grayscale": every channel set to the luma;
//  "drop": one random channel kept, the others replaced by that channel's mean plus Gaussian noise
//          of 1/100 of its std (Doersch et al.'s colour dropping).
// One-channel patches are always returned unchanged.
torch::Tensor colourDefence(const torch::Tensor& patches, const std::string& mode,
                            torch::Generator& gen);

// For the viewers: images [N,C,H,W] as RGB [N,3,H,W], and a one-pixel frame drawn in place.
torch::Tensor asRgb(const torch::Tensor& images);
void drawFrame(torch::Tensor& rgb, int64_t y, int64_t x, int64_t h, int64_t w, float r, float g,
               float b);

}  // namespace pretext
