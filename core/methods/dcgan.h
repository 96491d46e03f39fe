#pragma once
// Adversarial pieces shared by the DCGAN and the context encoder's optional adversarial loss: the
// GAN losses (the tests check them against hand-worked numbers) and the inner optimiser that a
// method keeps for its second network.
#include <torch/optim/adam.h>
#include <torch/serialize/archive.h>
#include <torch/types.h>

#include <string>

namespace pretext {

// The discriminator's loss on logits (binary cross-entropy with logits, real = 1, fake = 0):
//   L_D = mean_i softplus(-r_i) + mean_j softplus(f_j)
//       = -mean log sigmoid(r) - mean log(1 - sigmoid(f))
torch::Tensor ganDiscriminatorLoss(const torch::Tensor& realLogits,
                                   const torch::Tensor& fakeLogits);
// The generator's non-saturating loss (Goodfellow et al. 2014, used by DCGAN): the fakes labelled
// real, L_G = mean_j softplus(-f_j) = -mean log sigmoid(f).
torch::Tensor ganGeneratorLoss(const torch::Tensor& fakeLogits);

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
