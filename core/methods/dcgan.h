#pragma once
// Adversarial pieces shared by the DCGAN and the context encoder's optional adversarial loss: the
// GAN losses (the tests check them against hand-worked numbers), the Wasserstein critic's
// (Arjovsky et al. 2017) and its gradient penalty (Gulrajani et al. 2017), and the inner
// optimiser that a method keeps for its second network.
#include <torch/optim/adam.h>
#include <torch/serialize/archive.h>
#include <torch/types.h>

#include <functional>
#include <string>
#include <vector>

namespace pretext {

// The discriminator's loss on logits (binary cross-entropy with logits, real = 1, fake = 0):
//   L_D = mean_i softplus(-r_i) + mean_j softplus(f_j)
//       = -mean log sigmoid(r) - mean log(1 - sigmoid(f))
torch::Tensor ganDiscriminatorLoss(const torch::Tensor& realLogits,
                                   const torch::Tensor& fakeLogits);
// The generator's non-saturating loss (Goodfellow et al. 2014, used by DCGAN): the fakes labelled
// real, L_G = mean_j softplus(-f_j) = -mean log sigmoid(f).
torch::Tensor ganGeneratorLoss(const torch::Tensor& fakeLogits);
// The generator's loss of the original minimax game (Goodfellow et al. 2014, eq. 1), which it
// minimises while the discriminator maximises: L_G = mean_j log(1 - sigmoid(f_j))
// = -mean_j softplus(f_j). Its gradient vanishes when the discriminator rejects the fakes
// confidently (f << 0), the reason for the non-saturating form.
torch::Tensor ganMinimaxGeneratorLoss(const torch::Tensor& fakeLogits);

// The Wasserstein GAN (Arjovsky, Chintala, Bottou 2017): the critic C (no sigmoid) is trained to
// maximise E[C(real)] - E[C(fake)], the estimate of the Wasserstein-1 distance when C is
// 1-Lipschitz; as a loss to minimise: L_C = mean C(fake) - mean C(real).
torch::Tensor wganCriticLoss(const torch::Tensor& realScores, const torch::Tensor& fakeScores);
// The generator minimises L_G = -mean C(fake).
torch::Tensor wganGeneratorLoss(const torch::Tensor& fakeScores);

// WGAN-GP's gradient penalty (Gulrajani et al. 2017, eq. 3): on the interpolates
// x^_i = eps_i real_i + (1 - eps_i) fake_i (eps [N] in [0,1], one per image),
//   GP = lambda * mean_i (||grad_x C(x^_i)||_2 - 1)^2,
// built with create_graph so its backward reaches the critic's parameters. `critic` maps images
// [N,...] to scores [N]. gradNorm: the mean of ||grad||_2 over the batch (detached).
struct GradientPenalty {
  torch::Tensor penalty;
  torch::Tensor gradNorm;
};
GradientPenalty gradientPenalty(const std::function<torch::Tensor(const torch::Tensor&)>& critic,
                                const torch::Tensor& real, const torch::Tensor& fake,
                                const torch::Tensor& eps, double lambda);

// WGAN's weight clipping: every tensor clamped to [-c, c] in place (no gradient recorded).
void clipWeights(const std::vector<torch::Tensor>& parameters, double c);

// Two networks, one trainer: the trainer's optimiser always trains the encoder that the probes
// evaluate; the method keeps an Adam of its own for the other network (the DCGAN generator, the
// context encoder's discriminator) and steps it inside step(). These write and read that Adam
// into a sub-archive of the method's checkpoint, so a resumed run continues exactly.
void saveInnerOptimizer(torch::serialize::OutputArchive& archive, const std::string& key,
                        const torch::optim::Optimizer& optimizer);
// A checkpoint without the key (written before the optimiser existed) leaves the Adam fresh.
void loadInnerOptimizer(torch::serialize::InputArchive& archive, const std::string& key,
                        torch::optim::Optimizer& optimizer);

}  // namespace pretext
