#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>

#include <cstdint>
#include <utility>

namespace pretext {

// NPID's non-parametric softmax (Wu, Xiong, Yu, Lin 2018): every training image is its own
// class, represented by one l2-normalised vector v_i of a memory bank [N,d]. For an image of
// index i with feature f (l2-normalised inside),
//   P(i | f) = exp(v_i . f / T) / sum_{j=1..N} exp(v_j . f / T)
// and the loss is -log P(i | f), averaged over the batch: the exact softmax over the whole bank
// (the paper approximates it with NCE; the official code offers both). features [B,d], bank
// [N,d] (used as given, a constant: no gradient reaches it), indices [B] int64 (rows of the
// bank). `accuracy` (if given) gets the share of images whose own bank row scores highest.
torch::Tensor npidLoss(const torch::Tensor& features, const torch::Tensor& bank,
                       const torch::Tensor& indices, double temperature,
                       torch::Tensor* accuracy = nullptr);

// The memory update after a step, in place: for each (index i, feature f) pair,
//   v_i <- normalise(m * v_i + (1 - m) * normalise(f))
// (m = 0.5 in the official code). indices [B] must not repeat.
void npidUpdateBank(torch::Tensor& bank, const torch::Tensor& indices,
                    const torch::Tensor& features, double momentum);

// The paper's kNN monitor read straight from the bank: each query feature f [B,d] (normalised
// inside) against the bank rows whose label is known (labels [N] int64, -1 = not yet seen),
// leaving out the query's own row (indices [B]); the k most similar vote for their label with
// weight exp(s / T). Returns the share of queries whose vote matches their label (0-dim).
// The bank initialised from the untrained network (bank_init "encoder", NPID and PIRL): row i
// becomes the l2-normalised embed(image i) of every training image (uint8 [N,C,H,W] on the CPU),
// in chunks of 256 on `device`, under batch statistics as a step sees them; the buffers of `net`
// other than the bank (batch norm's running statistics) are put back afterwards. Throws
// pretext::Error naming `method` when the bank's rows and the images differ in number.
void fillBankFromNetwork(torch::Tensor& bank, const torch::Tensor& trainImages, c10::Device device,
                         torch::nn::Module& net, const std::function<torch::Tensor(const torch::Tensor&)>& embed,
                         const std::string& method);

torch::Tensor npidBankKnn(const torch::Tensor& features, const torch::Tensor& indices,
                          const torch::Tensor& labels, const torch::Tensor& bank,
                          const torch::Tensor& bankLabels, int64_t numClasses, int64_t k,
                          double temperature);

// A memory bank's write for one step (NPID, PIRL): stage() keeps the features, rows and labels of
// the whole global batch (gathered across ranks, so every rank's bank stays the same) when the
// step computes them; apply() writes them after the optimiser step (the bank enters the step's
// logits, so it must not change before the backward pass): v <- normalise(m v + (1 - m) f) and
// each row's label for the kNN monitor.
class PendingBankWrite {
 public:
  void stage(const torch::Tensor& features, const torch::Tensor& indices, const torch::Tensor& labels);
  void apply(torch::Tensor& bank, torch::Tensor& bankLabels, double momentum);

 private:
  torch::Tensor features_, indices_, labels_;
};

// The training images behind memory-bank rows, for the pictures of a bank's neighbours (NPID,
// PIRL): the uint8 images of the rows below a byte budget (64 MiB: all of Fashion-MNIST's 60,000),
// recorded as batches pass. Not saved with the model: a process shows what it has trained on.
class BankImageCache {
 public:
  BankImageCache(int64_t trainImages, int64_t channels, int64_t imageSize);
  // Records images [B,C,H,W] in [0,1] of bank rows `indices` [B] (rows past the budget are skipped).
  void remember(const torch::Tensor& images, const torch::Tensor& indices);
  // How many rows have an image.
  int64_t seen() const;
  // The k rows with an image most similar to each query, from similarities sim [n,N] to every
  // bank row: {scores [n,k], rows [n,k]} on the CPU; a score is -inf where fewer than k rows
  // have an image.
  std::pair<torch::Tensor, torch::Tensor> nearest(const torch::Tensor& sim, int64_t k) const;
  // The image of a row with one (float [C,H,W] in [0,1], CPU).
  torch::Tensor image(int64_t row) const;

 private:
  int64_t rows_ = 0;
  torch::Tensor images_, seen_;  // uint8 [rows,C,H,W], bool [rows]
};

}  // namespace pretext
