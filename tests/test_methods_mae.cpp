// MAE and its ViT backbone: patches, masks, the loss and the position embeddings against values
// worked out by hand, and the mechanics (visible patches only, exact masking share, previews).
#include "test_main.h"
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "core/config/experiment.h"
#include "core/methods/mae.h"
#include "core/methods/registry.h"
#include "core/models/backbone.h"
#include "core/models/transformer_ops.h"
#include "core/models/vit.h"
#include "core/util/error.h"
#include "method_test_support.h"
#include "test_support.h"

using namespace pretext;
using json = nlohmann::json;

namespace {

QString show(const torch::Tensor& t) {
  std::ostringstream s;
  s << t;
  return QString::fromStdString(s.str());
}


MethodSetup maeSetup(int64_t imageSize = 16, int64_t channels = 1) {
  MethodSetup s;
  s.channels = channels;
  s.imageSize = imageSize;
  s.backbone.name("vit").width(16).depth(1).heads(2).patchSize(4);
  s.params = {{"dec_dim", 8}, {"dec_depth", 1}, {"dec_heads", 2}};
  return s;
}

}  // namespace

class TestMethodsmae : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() { torch::manual_seed(0); }

  // ---------------------------------------------------------------- patches
  // The 4x4 image with pixel (r, c) = 4r + c, in 2x2 patches (row-major over the patch grid, each
  // patch row-major inside):  top-left {0,1,4,5}, top-right {2,3,6,7}, bottom-left {8,9,12,13},
  // bottom-right {10,11,14,15}.
  void patchifyLayout() {
    auto x = torch::arange(16, torch::kFloat).reshape({1, 1, 4, 4});
    auto p = patchify(x, 2);
    auto expected = torch::tensor({{0.f, 1.f, 4.f, 5.f},
                                   {2.f, 3.f, 6.f, 7.f},
                                   {8.f, 9.f, 12.f, 13.f},
                                   {10.f, 11.f, 14.f, 15.f}})
                        .unsqueeze(0);
    QVERIFY2(p.equal(expected), qPrintable(show(p)));
    QVERIFY(unpatchify(p, 2, 1).equal(x));
    // Channels run fastest within a patch: pixel (c, r, col) = 10c + 2r + col of a 2-channel
    // 2x2 image is one patch [(0,0,c0) (0,0,c1) (0,1,c0) (0,1,c1) ...] = [0,10,1,11,2,12,3,13].
    auto y = torch::tensor({0.f, 1.f, 2.f, 3.f, 10.f, 11.f, 12.f, 13.f}).reshape({1, 2, 2, 2});
    QVERIFY(patchify(y, 2).equal(
        torch::tensor({0.f, 10.f, 1.f, 11.f, 2.f, 12.f, 3.f, 13.f}).view({1, 1, 8})));
    QVERIFY(unpatchify(patchify(y, 2), 2, 2).equal(y));
    PRETEXT_VERIFY_THROWS_WITH(patchify(torch::zeros({1, 1, 5, 5}), 2), "patch size 2");
  }

  void patchifyRoundTrip_data() {
    QTest::addColumn<int>("channels");
    QTest::addColumn<int>("patch");
    QTest::newRow("gray p4") << 1 << 4;
    QTest::newRow("rgb p2") << 3 << 2;
    QTest::newRow("rgb p8") << 3 << 8;
    QTest::newRow("gray p1") << 1 << 1;
  }
  void patchifyRoundTrip() {
    QFETCH(int, channels);
    QFETCH(int, patch);
    auto x = torch::rand({2, channels, 8, 8});
    auto p = patchify(x, patch);
    QCOMPARE(p.size(1), int64_t((8 / patch) * (8 / patch)));
    QCOMPARE(p.size(2), int64_t(patch * patch * channels));
    QVERIFY(unpatchify(p, patch, channels).equal(x));
  }

  // ---------------------------------------------------------------- masking
  void visiblePatchesRounding_data() {
    QTest::addColumn<int>("length");
    QTest::addColumn<double>("ratio");
    QTest::addColumn<int>("kept");
    QTest::newRow("49 at 75%") << 49 << 0.75 << 12;  // 12.25
    QTest::newRow("16 at 75%") << 16 << 0.75 << 4;
    QTest::newRow("49 at 50%") << 49 << 0.5 << 25;  // 24.5 rounds up
    QTest::newRow("4 at 95%") << 4 << 0.95 << 1;    // 0.2 -> at least one visible
    QTest::newRow("10 at 5%") << 10 << 0.05 << 9;   // 9.5 -> 10, but one must stay hidden
    QTest::newRow("1 patch") << 1 << 0.75 << 1;
  }
  void visiblePatchesRounding() {
    QFETCH(int, length);
    QFETCH(double, ratio);
    QFETCH(int, kept);
    QCOMPARE(visiblePatches(length, ratio), int64_t(kept));
  }

  void randomMaskingIsConsistent() {
    const int64_t n = 6, l = 49;
    auto gen = at::detail::createCPUGenerator(5);
    PatchMask m = randomMasking(n, l, 0.75, gen);
    QCOMPARE(m.keep.sizes(), (torch::IntArrayRef{n, 12}));
    QCOMPARE(m.mask.sizes(), (torch::IntArrayRef{n, l}));
    QCOMPARE(m.restore.sizes(), (torch::IntArrayRef{n, l}));
    std::set<std::vector<int64_t>> distinct;
    for (int64_t i = 0; i < n; ++i) {
      // Exactly K visible (mask 0) and L-K masked in every row.
      QCOMPARE(m.mask[i].sum().item<double>(), double(l - 12));
      // The kept patches are distinct, visible, and restore[] sends them to slots 0..K-1.
      std::set<int64_t> kept;
      std::vector<int64_t> row;
      for (int64_t j = 0; j < 12; ++j) {
        const int64_t id = m.keep[i][j].item<int64_t>();
        kept.insert(id);
        row.push_back(id);
        QCOMPARE(m.mask[i][id].item<float>(), 0.f);
        QCOMPARE(m.restore[i][id].item<int64_t>(), j);
      }
      QCOMPARE(int64_t(kept.size()), int64_t(12));
      distinct.insert(row);
      // restore is a permutation whose slots >= K are exactly the masked patches.
      auto sorted = std::get<0>(m.restore[i].sort());
      QVERIFY(sorted.equal(torch::arange(l, torch::kLong)));
      QVERIFY(m.mask[i].equal(m.restore[i].ge(12).to(torch::kFloat)));
    }
    QCOMPARE(int64_t(distinct.size()), n);  // one mask per sample
    // The same seed draws the same masks.
    auto again = at::detail::createCPUGenerator(5);
    QVERIFY(randomMasking(n, l, 0.75, again).keep.equal(m.keep));
  }

  // ---------------------------------------------------------------- loss
  // pred   = [[1,1], [0,2], [5,5]],  target = [[0,1], [0,0], [1,1]],  mask = [1, 1, 0]:
  // per-patch MSE: (1 + 0)/2 = 0.5, (0 + 4)/2 = 2, (16 + 16)/2 = 16 (visible, not counted);
  // loss = (0.5 + 2) / 2 = 1.25.
  void maeLossHandWorked() {
    auto pred = torch::tensor({{1.f, 1.f}, {0.f, 2.f}, {5.f, 5.f}}).unsqueeze(0).requires_grad_();
    auto target = torch::tensor({{0.f, 1.f}, {0.f, 0.f}, {1.f, 1.f}}).unsqueeze(0);
    auto mask = torch::tensor({{1.f, 1.f, 0.f}});
    auto loss = maeLoss(pred, target, mask, false);
    QVERIFY(std::abs(loss.item<double>() - 1.25) < 1e-6);
    // Predictions at the visible patch do not matter: no gradient there, same value when changed.
    loss.backward();
    QCOMPARE(pred.grad()[0][2].abs().sum().item<float>(), 0.f);
    QVERIFY(pred.grad()[0][1].abs().sum().item<float>() > 0);
    auto changed = pred.detach().clone();
    changed[0][2] = torch::tensor({-7.f, 123.f});
    QVERIFY(std::abs(maeLoss(changed, target, mask, false).item<double>() - 1.25) < 1e-6);
    // Changing a masked prediction does change it: patch 1 predicted [0,1] costs (0 + 1)/2 = 0.5,
    // so the loss becomes (0.5 + 0.5) / 2 = 0.5.
    changed[0][1] = torch::tensor({0.f, 1.f});
    QVERIFY(std::abs(maeLoss(changed, target, mask, false).item<double>() - 0.5) < 1e-6);
    // No masked patch: 0, not NaN.
    QCOMPARE(maeLoss(pred.detach(), target, torch::zeros({1, 3}), false).item<float>(), 0.f);
  }

  // Patch [1,2,3,4]: mean 2.5, unbiased variance (2.25 + 0.25 + 0.25 + 2.25) / 3 = 5/3, so the
  // normalised patch is [-1.5, -0.5, 0.5, 1.5] / sqrt(5/3) = [-1.161895, -0.387298, 0.387298,
  // 1.161895]. Predicting 0 for it costs the mean of the squares: (5/4) / (5/3) = 0.75. A flat
  // patch normalises to 0 (the 1e-6 keeps it finite).
  void normPixHandWorked() {
    auto target = torch::tensor({{1.f, 2.f, 3.f, 4.f}, {2.f, 2.f, 2.f, 2.f}}).unsqueeze(0);
    auto norm = normalizePatches(target);
    QVERIFY2(test::close(norm[0][0], torch::tensor({-1.161895f, -0.387298f, 0.387298f, 1.161895f})),
             qPrintable(show(norm)));
    QVERIFY(test::close(norm[0][1], torch::zeros({4})));
    auto pred = torch::zeros({1, 2, 4});
    auto loss = maeLoss(pred, target, torch::tensor({{1.f, 0.f}}), true).item<double>();
    QVERIFY2(std::abs(loss - 0.75) < 1e-5, qPrintable(QString::number(loss)));
    // Without normalisation the same prediction costs (1 + 4 + 9 + 16) / 4 = 7.5.
    QVERIFY(std::abs(maeLoss(pred, target, torch::tensor({{1.f, 0.f}}), false).item<double>() -
                     7.5) < 1e-5);
    // The loss is invariant to a patch's brightness and contrast under norm_pix.
    auto pred2 = torch::randn({1, 2, 4});
    const double a = maeLoss(pred2, target, torch::tensor({{1.f, 0.f}}), true).item<double>();
    const double b =
        maeLoss(pred2, target * 3 + 7, torch::tensor({{1.f, 0.f}}), true).item<double>();
    QVERIFY(std::abs(a - b) < 1e-4);
  }

  // Targets [[1,0], [3,4], [100,100]] with mask [1,1,0]: the mean masked patch is [2,2]; it
  // costs ((1 + 4) / 2 + (1 + 4) / 2) / 2 = 2.5 (the visible [100,100] counts nowhere).
  void meanPatchLossHandWorked() {
    auto target = torch::tensor({{1.f, 0.f}, {3.f, 4.f}, {100.f, 100.f}}).unsqueeze(0);
    auto mask = torch::tensor({{1.f, 1.f, 0.f}});
    QVERIFY(std::abs(meanPatchLoss(target, mask, false).item<double>() - 2.5) < 1e-6);
    // Under norm_pix: [1,0] and [3,4] have unbiased variance (0.25 + 0.25) / 1 = 0.5 and
    // normalise to [a,-a] and [-a,a] with a = 0.5 / sqrt(0.5 + 1e-6) ~ 0.7071; their mean is 0,
    // so the baseline is a^2 = 0.25 / (0.5 + 1e-6) ~ 0.5.
    QVERIFY(std::abs(meanPatchLoss(target, mask, true).item<double>() - 0.25 / (0.5 + 1e-6)) <
            1e-5);
  }

  // ---------------------------------------------------------------- position embeddings
  // dim 4 (k = 1, w_0 = 1) on a 2x3 grid: token t = 3r + c is [sin c, cos c, sin r, cos r].
  void sincosHandWorked() {
    auto pe = sincosPosEmbed2d(4, 2, 3);
    QCOMPARE(pe.sizes(), (torch::IntArrayRef{6, 4}));
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 3; ++c) {
        auto want = torch::tensor(
            {float(std::sin(c)), float(std::cos(c)), float(std::sin(r)), float(std::cos(r))});
        QVERIFY2(test::close(pe[3 * r + c], want), qPrintable(QString("token r=%1 c=%2").arg(r).arg(c)));
      }
    // dim 8 (k = 2, w = [1, 10000^(-1/2) = 0.01]); token (r=1, c=2) of a 2x3 grid is
    // [sin 2, sin 0.02, cos 2, cos 0.02, sin 1, sin 0.01, cos 1, cos 0.01].
    auto pe8 = sincosPosEmbed2d(8, 2, 3);
    auto want = torch::tensor({float(std::sin(2.0)), float(std::sin(0.02)), float(std::cos(2.0)),
                               float(std::cos(0.02)), float(std::sin(1.0)), float(std::sin(0.01)),
                               float(std::cos(1.0)), float(std::cos(0.01))});
    QVERIFY2(test::close(pe8[5], want), qPrintable(show(pe8[5])));
    PRETEXT_VERIFY_THROWS_WITH(sincosPosEmbed2d(6, 2, 2), "multiple of 4");
  }

  // ---------------------------------------------------------------- ViT
  void vitShapesAndPieces() {
    auto enc = makeBackbone(BackboneOptions()
                                .name("vit")
                                .inChannels(3)
                                .imageSize(12)
                                .width(8)
                                .depth(2)
                                .heads(2)
                                .patchSize(3));
    auto* vit = dynamic_cast<VisionTransformer*>(enc.get());
    QVERIFY(vit);
    QCOMPARE(vit->numPatches(), int64_t(16));
    enc->eval();
    auto x = torch::rand({2, 3, 12, 12});
    auto tokens = vit->patchTokens(x);
    QCOMPARE(tokens.sizes(), (torch::IntArrayRef{2, 16, 8}));
    auto f = enc->forward(x);
    QCOMPARE(f.sizes(), (torch::IntArrayRef{2, 8}));
    QVERIFY(test::close(f, vit->encodeTokens(tokens).mean(1)));
    // The position embeddings are fixed (a buffer, not a parameter) and are MAE's sin-cos.
    auto buffers = enc->named_buffers();
    QVERIFY(buffers.contains("pos_embed"));
    QVERIFY(test::close(buffers["pos_embed"][0], sincosPosEmbed2d(8, 4, 4)));
    for (const auto& p : enc->named_parameters()) QVERIFY(p.key() != "pos_embed");
    // Without position embeddings, a patch's token is the conv of its own pixels: token 5 (row 1,
    // col 1) depends on pixels [3,6) x [3,6) only.
    auto y = x.clone();
    y.slice(2, 0, 3).fill_(0.3);
    QVERIFY(test::close(vit->patchTokens(y)[0][5], tokens[0][5]));
    // Stages: one token map per block.
    auto st = enc->stages(x);
    QCOMPARE(int64_t(st.size()), enc->numStages());
    QCOMPARE(st.back().sizes(), (torch::IntArrayRef{2, 8, 4, 4}));
    QVERIFY(test::close(st.back().mean({2, 3}), f));
    // Encoding a subset of tokens works (MAE's visible patches).
    QCOMPARE(vit->encodeTokens(tokens.slice(1, 0, 5)).sizes(), (torch::IntArrayRef{2, 5, 8}));
  }

  // The block against the pre-norm transformer written out op by op from its own weights (the
  // block computes its Linears and its attention with transformer_ops (oneDNN where built); the
  // reference with LibTorch's matmuls, bias adds and softmax): the same output and gradients.
  void transformerBlockMatchesReference() {
    const int64_t b = 3, l = 5, d = 8, heads = 2, hd = d / heads;
    TransformerBlock block(d, heads);
    auto p = block->named_parameters();
    auto x = torch::randn({b, l, d}, torch::requires_grad());
    auto xr = x.detach().clone().requires_grad_(true);
    auto lin = [&](const std::string& name, const torch::Tensor& t) {
      return torch::matmul(t, p[name + ".weight"].t()) + p[name + ".bias"];
    };
    auto ln = [&](const std::string& name, const torch::Tensor& t) {
      auto mean = t.mean(-1, true);
      auto var = (t - mean).pow(2).mean(-1, true);
      return (t - mean) / (var + 1e-6).sqrt() * p[name + ".weight"] + p[name + ".bias"];
    };
    auto qkv = lin("qkv", ln("norm1", xr)).reshape({b, l, 3, heads, hd}).permute({2, 0, 3, 1, 4});
    auto attn =
        torch::softmax(torch::matmul(qkv[0], qkv[1].transpose(-2, -1)) / std::sqrt(double(hd)), -1);
    auto h = xr + lin("proj", torch::matmul(attn, qkv[2]).transpose(1, 2).reshape({b, l, d}));
    auto expected = h + lin("fc2", torch::gelu(lin("fc1", ln("norm2", h))));
    auto y = block->forward(x);
    QVERIFY2(test::close(y, expected), qPrintable(show((y - expected).abs().max())));
    auto w = torch::randn({b, l, d});
    auto gradsOf = [&](const torch::Tensor& out, const torch::Tensor& in) {
      for (auto& t : block->parameters()) t.mutable_grad() = torch::Tensor();
      (out * w).sum().backward();
      std::vector<torch::Tensor> g{in.grad().clone()};
      for (auto& t : block->parameters()) g.push_back(t.grad().clone());
      return g;
    };
    auto got = gradsOf(y, x), want = gradsOf(expected, xr);
    for (size_t i = 0; i < got.size(); ++i)
      QVERIFY2(test::close(got[i], want[i], 1e-4), qPrintable(QString::number(i)));
  }

  // The attention's batched product (oneDNN, or LibTorch's bmm split over two threads): the same
  // numbers and gradients as LibTorch's bmm to rounding, above and below the batch size where the
  // split starts, on permuted inputs.
  void batchedMatmulIsBmm_data() {
    QTest::addColumn<int>("batch");
    QTest::newRow("split") << 100;
    QTest::newRow("small") << 5;
  }
  void batchedMatmulIsBmm() {
    QFETCH(int, batch);
    auto x =
        torch::randn({batch, 4, 7, 3}).permute({0, 1, 3, 2}).requires_grad_(true);  // [B,4,3,7]
    auto y = torch::randn({batch, 4, 7, 5}, torch::requires_grad());
    auto xr = x.detach().clone().requires_grad_(true), yr = y.detach().clone().requires_grad_(true);
    qInfo("kernel: %s", transformerKernel());
    auto got = batchedMatmul(x, y), want = torch::matmul(xr, yr);
    QCOMPARE(got.sizes(), want.sizes());
    QVERIFY(torch::allclose(got, want, 1e-5, 1e-5));
    auto w = torch::randn(want.sizes());
    (got * w).sum().backward();
    (want * w).sum().backward();
    QVERIFY(torch::allclose(x.grad(), xr.grad(), 1e-5, 1e-5));
    QVERIFY(torch::allclose(y.grad(), yr.grad(), 1e-5, 1e-5));
    QVERIFY(!torch::allclose(x.grad(), torch::zeros_like(x)));
  }

  // transformer_ops' linear against at::linear: 2-D and 3-D inputs, a non-contiguous input, no
  // bias, and gradients only where asked for (a frozen weight, an input without grad).
  void linearIsAtLinear_data() {
    QTest::addColumn<bool>("bias");
    QTest::addColumn<bool>("inputGrad");
    QTest::addColumn<bool>("weightGrad");
    QTest::addColumn<bool>("transposedInput");
    QTest::newRow("bias, all grads") << true << true << true << false;
    QTest::newRow("no bias, transposed input") << false << true << true << true;
    QTest::newRow("frozen weight") << true << true << false << false;
    QTest::newRow("input without grad") << true << false << true << true;
  }
  void linearIsAtLinear() {
    QFETCH(bool, bias);
    QFETCH(bool, inputGrad);
    QFETCH(bool, weightGrad);
    QFETCH(bool, transposedInput);
    qInfo("kernel: %s", transformerKernel());
    auto x = transposedInput ? torch::randn({3, 7, 5}).transpose(1, 2) : torch::randn({3, 5, 7});
    auto w = torch::randn({4, 7}), b = bias ? torch::randn({4}) : torch::Tensor();
    auto xr = x.clone(), wr = w.clone(), br = bias ? b.clone() : torch::Tensor();
    x.requires_grad_(inputGrad), xr.requires_grad_(inputGrad);
    w.requires_grad_(weightGrad), wr.requires_grad_(weightGrad);
    if (bias) b.requires_grad_(true), br.requires_grad_(true);
    auto got = linear(x, w, b), want = at::linear(xr, wr, br);
    QCOMPARE(got.sizes(), (torch::IntArrayRef{3, 5, 4}));
    QVERIFY(torch::allclose(got, want, 1e-5, 1e-5));
    QVERIFY(torch::allclose(linear(x[0][1], w, b), want[0][1], 1e-5, 1e-5));  // 1-D input
    auto g = torch::randn({3, 5, 4});
    (got * g).sum().backward();
    (want * g).sum().backward();
    QCOMPARE(x.grad().defined(), inputGrad);
    QCOMPARE(w.grad().defined(), weightGrad);
    if (inputGrad) QVERIFY(torch::allclose(x.grad(), xr.grad(), 1e-4, 1e-5));
    if (weightGrad) QVERIFY(torch::allclose(w.grad(), wr.grad(), 1e-4, 1e-5));
    if (bias) QVERIFY(torch::allclose(b.grad(), br.grad(), 1e-4, 1e-5));
  }

  // multiHeadAttention against softmax(q k^T / sqrt(hd)) v written with LibTorch's ops, on a
  // non-contiguous qkv, forward and backward; one head and several.
  void multiHeadAttentionIsReference_data() {
    QTest::addColumn<int>("heads");
    QTest::newRow("1 head") << 1;
    QTest::newRow("4 heads") << 4;
  }
  void multiHeadAttentionIsReference() {
    QFETCH(int, heads);
    const int64_t b = 3, l = 6, d = 16, hd = d / heads;
    auto qkv = torch::randn({l, b, 3 * d}).transpose(0, 1).requires_grad_(true);  // [B,L,3D]
    auto ref = qkv.detach().clone().requires_grad_(true);
    auto got = multiHeadAttention(qkv, heads);
    auto r5 = ref.reshape({b, l, 3, heads, hd}).permute({2, 0, 3, 1, 4});
    auto a =
        torch::softmax(torch::matmul(r5[0], r5[1].transpose(-2, -1)) / std::sqrt(double(hd)), -1);
    auto want = torch::matmul(a, r5[2]).transpose(1, 2).reshape({b, l, d});
    QCOMPARE(got.sizes(), want.sizes());
    QVERIFY2(torch::allclose(got, want, 1e-5, 1e-5), qPrintable(show((got - want).abs().max())));
    auto g = torch::randn({b, l, d});
    (got * g).sum().backward();
    (want * g).sum().backward();
    QVERIFY2(torch::allclose(qkv.grad(), ref.grad(), 1e-4, 1e-5),
             qPrintable(show((qkv.grad() - ref.grad()).abs().max())));
    QVERIFY(qkv.grad().abs().sum().item<double>() > 0);
  }

  void vitRefusesBadShapes_data() {
    QTest::addColumn<int>("imageSize");
    QTest::addColumn<int>("width");
    QTest::addColumn<int>("heads");
    QTest::addColumn<int>("patch");
    QTest::addColumn<QString>("error");
    QTest::newRow("patch") << 28 << 16 << 4 << 5 << "backbone.patch_size = 5";
    QTest::newRow("patch too big") << 8 << 16 << 4 << 16 << "backbone.patch_size = 16";
    QTest::newRow("heads") << 28 << 16 << 3 << 4 << "backbone.heads = 3";
    QTest::newRow("width") << 28 << 6 << 2 << 4 << "backbone.width = 6";
  }
  void vitRefusesBadShapes() {
    QFETCH(int, imageSize);
    QFETCH(int, width);
    QFETCH(int, heads);
    QFETCH(int, patch);
    QFETCH(QString, error);
    PRETEXT_VERIFY_THROWS_WITH(
        makeBackbone(
            BackboneOptions().name("vit").imageSize(imageSize).width(width).heads(heads).patchSize(
                patch)),
        error.toStdString());
  }

  // The experiment's backbone fields: JSON round trip, defaults for old files, validation paths,
  // and the one helper that both the trainer and the random-init baseline use.
  void experimentBackboneFields() {
    Experiment old = experimentFromJson(json{{"backbone", {{"name", "convnet"}, {"width", 8}}}});
    QCOMPARE(old.patchSize, int64_t(4));
    QCOMPARE(old.depth, int64_t(4));
    QCOMPARE(old.heads, int64_t(4));
    Experiment e = experimentFromJson(
        json{{"method", {{"name", "mae"}}},
             {"backbone",
              {{"name", "vit"}, {"width", 24}, {"patch_size", 7}, {"depth", 3}, {"heads", 6}}}});
    json j = experimentToJson(e);
    QCOMPARE(j["backbone"]["patch_size"].get<int64_t>(), int64_t(7));
    QCOMPARE(experimentToJson(experimentFromJson(j)).dump(), j.dump());
    BackboneOptions b = backboneOptionsOf(e, 3, 28);
    QCOMPARE(b.name(), std::string("vit"));
    QCOMPARE(b.width(), int64_t(24));
    QCOMPARE(b.patchSize(), int64_t(7));
    QCOMPARE(b.depth(), int64_t(3));
    QCOMPARE(b.heads(), int64_t(6));
    QCOMPARE(b.inChannels(), int64_t(3));
    QCOMPARE(b.imageSize(), int64_t(28));
    PRETEXT_VERIFY_THROWS_WITH(
        experimentFromJson(json{{"backbone", {{"name", "vit"}, {"width", 16}, {"heads", 3}}}}),
        "backbone.heads = 3");
    PRETEXT_VERIFY_THROWS_WITH(experimentFromJson(json{{"backbone", {{"depth", 0}}}}),
                               "backbone.depth = 0");
    PRETEXT_VERIFY_THROWS_WITH(experimentFromJson(json{{"backbone", {{"patch_size", "4"}}}}),
                               "backbone.patch_size = \"4\": expected an integer");
  }

  // ---------------------------------------------------------------- the method
  void maeNeedsVit() {
    MethodSetup s = maeSetup();
    s.backbone.name("convnet");
    PRETEXT_VERIFY_THROWS_WITH(makeMethod("mae", s), "set backbone.name to \"vit\"");
    QCOMPARE(MethodRegistry::instance().get("mae").requiredBackbone, std::string("vit"));
    s = maeSetup();
    s.params["dec_heads"] = 3;
    PRETEXT_VERIFY_THROWS_WITH(makeMethod("mae", s), "method.params.dec_heads = 3");
  }

  // Everything a checkpoint must hold is registered: the decoder, its mask token and both
  // position tables.
  void maeRegistersItsState() {
    auto m = makeMethod("mae", maeSetup());
    auto params = m->named_parameters();
    auto buffers = m->named_buffers();
    QVERIFY(params.contains("mask_token"));
    QVERIFY(params.contains("decoder_pred.weight"));
    QVERIFY(params.contains("decoder_blocks.0.qkv.weight"));
    QVERIFY(buffers.contains("decoder_pos_embed"));
    QVERIFY(buffers.contains("encoder.pos_embed"));
    QVERIFY(test::close(buffers["decoder_pos_embed"][0], sincosPosEmbed2d(8, 4, 4)));
    QCOMPARE(buffers["decoder_pos_embed"].requires_grad(), false);
  }

  // A step: the metrics are there, and the encoder sees only the visible patches: with the same
  // seed (same mask), changing the pixels of the masked patches changes the loss (their targets)
  // but not the encoder's features of the visible ones (feature_std/eff_rank come from them).
  // The Loss panel's anatomy: one row per image, NaN at its visible patches, the hidden ones'
  // squared errors; the rows' mean is the step's loss (same generator: the same mask).
  void lossAnatomyIsTheStepsLossPerPatch() {
    auto m = makeMethod("mae", maeSetup());
    m->eval();
    AugmentOptions none = augmentPreset("none");
    auto images = torch::rand({4, 1, 16, 16});
    auto gen = at::detail::createCPUGenerator(11);
    const auto list = m->lossAnatomy(images, none, gen);
    QCOMPARE(list.size(), size_t(1));
    const LossAnatomy& a = list[0];
    QCOMPARE(a.matrix.sizes().vec(), (std::vector<int64_t>{4, 16}));  // 4 x 4 patches of 4 px
    for (int64_t i = 0; i < 4; ++i)  // 75% of 16 hidden: 12 scored, 4 blank
      QCOMPARE(torch::isnan(a.matrix[i]).sum().item<int64_t>(), int64_t(4));
    auto scored = a.matrix.nan_to_num(0).sum(1) / 12;
    QVERIFY(torch::allclose(a.perRow, scored, 1e-5, 1e-6));
    auto stepGen = at::detail::createCPUGenerator(11);
    StepContext ctx{0, 0, 0.0, &stepGen, &none};
    Batch b;
    b.images = images;
    const double stepLoss = m->step(b, ctx).loss.item<double>();
    QCOMPARE(a.terms[0].first, std::string("loss"));
    QVERIFY(std::abs(a.terms[0].second - stepLoss) < 1e-5);
    QVERIFY(std::abs(a.perRow.mean().item<double>() - stepLoss) < 1e-5);
    QVERIFY(a.terms[1].first == "mean-patch baseline" && a.terms[1].second > 0);
  }

  void maeStepUsesVisiblePatchesOnly() {
    auto m = makeMethod("mae", maeSetup());
    m->eval();  // no dropout anyway; keeps the comparison exact
    AugmentOptions none = augmentPreset("none");
    Batch b;
    b.images = torch::rand({4, 1, 16, 16});
    auto stepWith = [&](const torch::Tensor& images) {
      Batch bb;
      bb.images = images;
      auto gen = at::detail::createCPUGenerator(11);
      StepContext ctx{0, 0, 0.0, &gen, &none};
      return m->step(bb, ctx);
    };
    auto r = stepWith(b.images);
    std::map<std::string, double> metric;
    for (auto& [k, v] : r.metrics) metric[k] = v.item<double>();
    QVERIFY(metric.count("mean_patch_loss"));
    QVERIFY(metric.count("feature_std"));
    // A reconstruction cannot collapse: no emb_std, so no collapse alarm, and no embedding dim.
    QVERIFY(!metric.count("emb_std"));
    QCOMPARE(m->embeddingDim(), int64_t(0));
    QVERIFY(metric.count("eff_rank"));
    // Recover this step's mask from the same generator (the step draws nothing else with
    // augmentation "none").
    auto gen = at::detail::createCPUGenerator(11);
    PatchMask pm = randomMasking(4, 16, 0.75, gen);
    auto where = unpatchify(pm.mask.unsqueeze(-1).expand({-1, -1, 16}).contiguous(), 4, 1);
    auto changed = b.images * (1 - where) + torch::rand({4, 1, 16, 16}) * where;
    auto r2 = stepWith(changed);
    QVERIFY(std::abs(r2.loss.item<double>() - r.loss.item<double>()) > 1e-6);
    std::map<std::string, double> metric2;
    for (auto& [k, v] : r2.metrics) metric2[k] = v.item<double>();
    QVERIFY(std::abs(metric2["feature_std"] - metric["feature_std"]) < 1e-6);
    QVERIFY(std::abs(metric2["eff_rank"] - metric["eff_rank"]) < 1e-4);
    // Changing a visible patch does change the encoder's view.
    auto visibleChanged = b.images * where + torch::rand({4, 1, 16, 16}) * (1 - where);
    auto r3 = stepWith(visibleChanged);
    for (auto& [k, v] : r3.metrics)
      if (k == "feature_std") QVERIFY(std::abs(v.item<double>() - metric["feature_std"]) > 1e-7);
    // features() is the ViT on every patch, unmasked: deterministic.
    QVERIFY(test::close(m->features(b.images), m->encoder()->forward(b.images)));
  }

  // 300 steps take the loss well below the mean-patch baseline, which it can only do by carrying
  // what the visible patches show (each image's brightness) to the masked positions (where the
  // vertical gradient shows the position embeddings at work).
  void maeLearnsBelowTheMeanPatch() {
    torch::manual_seed(1);
    auto m = makeMethod("mae", maeSetup());
    torch::optim::AdamW opt(m->trainableParameters(), torch::optim::AdamWOptions(3e-3));
    AugmentOptions none = augmentPreset("none");
    auto brightness = torch::linspace(0.1, 1.0, 16).view({16, 1, 1, 1});
    auto gradient = torch::linspace(0.3, 1.0, 16).view({1, 1, 16, 1}).expand({1, 1, 16, 16});
    auto images = brightness * gradient;
    double loss = 0, base = 0;
    for (int step = 0; step < 300; ++step) {
      auto gen = at::detail::createCPUGenerator(100 + step);
      Batch b;
      b.images = images;
      StepContext ctx{step, 0, step / 300.0, &gen, &none};
      opt.zero_grad();
      auto r = m->step(b, ctx);
      r.loss.backward();
      opt.step();
      if (step >= 280) {
        loss += r.loss.item<double>();
        for (auto& [k, v] : r.metrics)
          if (k == "mean_patch_loss") base += v.item<double>();
      }
    }
    QVERIFY2(loss < 0.2 * base,
             qPrintable(QString("loss %1 vs mean patch %2").arg(loss / 20).arg(base / 20)));
  }

  // The pictures: 4 columns with headers; the masked input hides exactly the slider's share of
  // patches; pasting puts the original back at the visible ones.
  void maePreviews() {
    auto m = makeMethod("mae", maeSetup());
    m->eval();
    auto controls = m->previewControls();
    QCOMPARE(int(controls.size()), 1);
    QCOMPARE(controls[0].name, std::string("mask_ratio"));
    QCOMPARE(controls[0].value, 0.75);
    QCOMPARE(controls[0].min, 0.05);
    QCOMPARE(controls[0].max, 0.95);
    auto images = torch::rand({3, 1, 16, 16}) * 0.8 + 0.1;
    for (double ratio : {0.75, 0.25}) {
      auto gen = at::detail::createCPUGenerator(3);
      auto previews = m->previews(images, gen, {{"mask_ratio", ratio}});
      QCOMPARE(int(previews.size()), 1);
      const Preview& p = previews[0];
      QCOMPARE(p.columns, int64_t(4));
      QCOMPARE(p.labels,
               (std::vector<std::string>{"original", "masked", "predicted", "+ visible"}));
      QCOMPARE(p.images.sizes(), (torch::IntArrayRef{12, 3, 16, 16}));
      QVERIFY(p.images.min().item<float>() >= 0 && p.images.max().item<float>() <= 1);
      for (int i = 0; i < 3; ++i) {
        auto original = p.images[4 * i][0];
        QVERIFY(test::close(original, images[i][0]));
        // Masked pixels are tinted (red != blue); the tint covers K = round(16 (1 - r)) kept.
        auto masked = p.images[4 * i + 1];
        auto tinted = masked[0].ne(masked[2]).to(torch::kFloat);
        const double hidden = tinted.sum().item<double>() / 16.0;  // in patches of 4x4 pixels
        QCOMPARE(hidden, double(16 - visiblePatches(16, ratio)));
        // Visible patches are the original in the pasted column.
        auto pasted = p.images[4 * i + 3][0];
        QVERIFY(test::close(pasted * (1 - tinted), original * (1 - tinted)));
      }
    }
    // A new generator re-samples the mask.
    auto g1 = at::detail::createCPUGenerator(3), g2 = at::detail::createCPUGenerator(4);
    auto a = m->previews(images, g1, {})[0].images, b = m->previews(images, g2, {})[0].images;
    QVERIFY(!a[1].equal(b[1]));
    // The input views: image, view, what the encoder sees, what it must predict.
    auto g3 = at::detail::createCPUGenerator(5);
    Preview v = m->inputViews(images, augmentPreset("none"), g3);
    QCOMPARE(v.columns, int64_t(4));
    QCOMPARE(v.images.sizes(), (torch::IntArrayRef{12, 3, 16, 16}));
    auto seen = v.images[2], toPredict = v.images[3];
    const double seenTinted = seen[0].ne(seen[2]).sum().item<double>() / 16.0;
    const double predTinted = toPredict[0].ne(toPredict[2]).sum().item<double>() / 16.0;
    QCOMPARE(seenTinted, 12.0);
    QCOMPARE(predTinted, 4.0);
  }
};

PRETEXT_TEST_AREA(TestMethodsmae, "methods_mae")
#include "test_methods_mae.moc"
