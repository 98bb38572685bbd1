//===- Backward.cpp - the float64 reference's gradients -------------------===//
//
// The backward of a fused variant from the materialised scores: the forward
// once more (raw scores, score_mod, mask, normalizer, P V, output_mod), then
// the chain rule back through each step. The regions are differentiated op
// by op in reverse (reverseRegion), one rule per op of dialect/ScalarOps.def
// that takes floats; the kernels' backward will be checked against this.
//
//===----------------------------------------------------------------------===//

#include "Reference/Interpreter.h"
#include "dialect/RegionComposition.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace attnc;
using namespace attnc::reference;

namespace {

constexpr double kLn2 = 0.69314718055994530942, kPi = 3.14159265358979323846;

/// The adjoints of one region's values, and the rule of each op: given the
/// adjoint of its result, adds to its operands'.
class RegionAdjoints {
public:
  RegionAdjoints(Interpreter &interp,
                 const llvm::DenseMap<Value, Scalar> &values,
                 std::string &error)
      : interp(interp), values(values), error(error) {}

  double &of(Value v) { return adjoints[v]; }
  bool has(Value v) const { return adjoints.count(v); }

  /// Propagates the adjoint of `op`'s result to its operands; false (with
  /// the error set) for a float op without a rule.
  bool propagate(Operation &op, double g) {
    current = &op;
    using llvm::TypeSwitch;
    return TypeSwitch<Operation *, bool>(&op)
        .Case([&](arith::AddFOp) { return add(0, g) && add(1, g); })
        .Case([&](arith::SubFOp) { return add(0, g) && add(1, -g); })
        .Case([&](arith::MulFOp) {
          return add(0, g * x(op, 1)) && add(1, g * x(op, 0));
        })
        .Case([&](arith::DivFOp) {
          double b = x(op, 1);
          return add(0, g / b) && add(1, -g * x(op, 0) / (b * b));
        })
        .Case([&](arith::RemFOp) {
          return add(0, g) && add(1, -g * std::trunc(x(op, 0) / x(op, 1)));
        })
        .Case([&](arith::NegFOp) { return add(0, -g); })
        .Case<arith::MaximumFOp, arith::MaxNumFOp>([&](auto) {
          bool first = x(op, 0) >= x(op, 1);
          return add(first ? 0 : 1, g);
        })
        .Case<arith::MinimumFOp, arith::MinNumFOp>([&](auto) {
          bool first = x(op, 0) <= x(op, 1);
          return add(first ? 0 : 1, g);
        })
        .Case([&](math::ExpOp) { return add(0, g * std::exp(x(op, 0))); })
        .Case([&](math::Exp2Op) {
          return add(0, g * std::exp2(x(op, 0)) * kLn2);
        })
        .Case([&](math::ExpM1Op) { return add(0, g * std::exp(x(op, 0))); })
        .Case([&](math::CopySignOp) {
          return add(0, g * std::copysign(1.0, x(op, 0)) *
                            std::copysign(1.0, x(op, 1)));
        })
        .Case([&](math::LogOp) { return add(0, g / x(op, 0)); })
        .Case([&](math::Log2Op) { return add(0, g / (x(op, 0) * kLn2)); })
        .Case([&](math::Log1pOp) { return add(0, g / (1 + x(op, 0))); })
        .Case(
            [&](math::SqrtOp) { return add(0, g / (2 * std::sqrt(x(op, 0)))); })
        .Case([&](math::RsqrtOp) {
          return add(0, -0.5 * g * std::pow(x(op, 0), -1.5));
        })
        .Case([&](math::TanhOp) {
          double t = std::tanh(x(op, 0));
          return add(0, g * (1 - t * t));
        })
        .Case([&](math::SinOp) { return add(0, g * std::cos(x(op, 0))); })
        .Case([&](math::CosOp) { return add(0, -g * std::sin(x(op, 0))); })
        .Case([&](math::ErfOp) {
          double a = x(op, 0);
          return add(0, g * 2 / std::sqrt(kPi) * std::exp(-a * a));
        })
        .Case([&](math::AbsFOp) {
          double a = x(op, 0);
          return add(0, a > 0 ? g : a < 0 ? -g : 0);
        })
        .Case([&](math::PowFOp) {
          double a = x(op, 0), b = x(op, 1);
          return add(0, g * b * std::pow(a, b - 1)) &&
                 add(1, a > 0 ? g * std::pow(a, b) * std::log(a) : 0);
        })
        .Case([&](math::FmaOp) {
          return add(0, g * x(op, 1)) && add(1, g * x(op, 0)) && add(2, g);
        })
        .Case([&](arith::SelectOp) {
          return add(interp.lookup(op.getOperand(0), values).i ? 1 : 2, g);
        })
        // Rounding to a narrower float passes the gradient through.
        .Case<arith::ExtFOp, arith::TruncFOp>([&](auto) { return add(0, g); })
        // Piecewise constant, or from integers: no gradient.
        .Case<math::FloorOp, math::CeilOp, math::RoundOp, arith::SIToFPOp,
              arith::UIToFPOp, arith::ConstantOp>([&](auto) { return true; })
        .Default([&](Operation *) {
          error = "reference: no derivative for '" +
                  op.getName().getStringRef().str() + "' in a region";
          return false;
        });
  }

private:
  double x(Operation &op, unsigned i) {
    return interp.lookup(op.getOperand(i), values).f;
  }
  /// Adds `g` to the adjoint of operand `i` of the op being propagated.
  bool add(unsigned i, double g) {
    adjoints[current->getOperand(i)] += g;
    return true;
  }

  Interpreter &interp;
  const llvm::DenseMap<Value, Scalar> &values;
  std::string &error;
  llvm::DenseMap<Value, double> adjoints;
  Operation *current = nullptr;
};

/// A param's place among the variant's params (and the inputs'): its
/// argument number after q, k and v.
size_t paramNumber(Value param) {
  return cast<BlockArgument>(param).getArgNumber() - 3;
}

RefArray zerosLike(const RefArray &a) {
  RefArray z;
  z.shape = a.shape;
  z.data.assign(a.data.size(), 0.0);
  return z;
}

} // namespace

double Interpreter::reverseRegion(Region &region,
                                  const llvm::DenseMap<Value, Scalar> &values,
                                  double seed, RefGradients &grads,
                                  double *rowStats) {
  Block &block = region.front();
  RegionAdjoints adjoints(*this, values, error);
  adjoints.of(cast<YieldOp>(block.getTerminator()).getValue()) = seed;
  for (Operation &op : llvm::reverse(block.without_terminator())) {
    if (op.getNumResults() != 1 || !isa<FloatType>(op.getResult(0).getType()) ||
        !adjoints.has(op.getResult(0)))
      continue;
    double g = adjoints.of(op.getResult(0));
    if (auto load = dyn_cast<LoadOp>(op)) {
      // A float param's element: its gradient, at the index read.
      const RefArray &array = *arrays.lookup(load.getParam());
      int64_t flat = 0;
      for (auto [d, index] : llvm::enumerate(load.getIndices()))
        flat = flat * array.dim(d) + lookup(index, values).i;
      grads.dparams[paramNumber(load.getParam())].data[flat] += g;
      continue;
    }
    if (!adjoints.propagate(op, g))
      return 0;
  }
  // Scalar float params read directly.
  for (BlockArgument param : variant.getParams())
    if (isa<FloatType>(param.getType()) && adjoints.has(param))
      grads.dparams[paramNumber(param)].data[0] += adjoints.of(param);
  auto adjointOf = [&](unsigned arg) {
    Value v = block.getArgument(arg);
    return adjoints.has(v) ? adjoints.of(v) : 0.0;
  };
  if (rowStats) {
    rowStats[0] += adjointOf(kOutputModLseArg);
    rowStats[1] += adjointOf(kOutputModRowSumArg);
  }
  return adjointOf(0);
}

llvm::Expected<RefGradients> Interpreter::backward(const RefArray &dout) {
  auto failure = [&](const std::string &message) {
    fail(message);
    return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
  };
  if (!bindBodyScalars())
    return failure(error);
  FlashOp flash;
  for (Operation &op : variant.getBody().front())
    if (auto f = dyn_cast<FlashOp>(op))
      flash = f;
  if (!flash)
    return failure("reference: the backward takes a fused variant (one "
                   "attn.flash); run attn-fuse first");
  const RefArray &q = inputs.q, &k = inputs.k, &v = inputs.v;
  const int64_t B = q.dim(0), H = q.dim(1), N = q.dim(2), D = q.dim(3);
  const int64_t Hkv = k.dim(1), M = k.dim(2), Dv = v.dim(3), group = H / Hkv;
  if (dout.shape != std::vector<int64_t>{B, H, N, Dv})
    return failure("reference: dout must have the output's shape");

  RefGradients grads;
  grads.dq = zerosLike(q), grads.dk = zerosLike(k), grads.dv = zerosLike(v);
  grads.dqNoise = zerosLike(q), grads.dkNoise = zerosLike(k),
  grads.dvNoise = zerosLike(v);
  for (const RefArray &param : inputs.params)
    grads.dparams.push_back(zerosLike(param));

  // The forward, keeping each step.
  TensorPtr raw = score(flash.getQuery(), flash.getKey(), flash.getScale());
  auto s = std::make_shared<Tensor>(*raw);
  // A selection is a hard mask: it passes no gradient (as MoBA's gate).
  applyScoreSteps(flash, *s);
  TensorPtr p = normalize(*s, flash.getNormalizer(), flash.getBias(),
                          flash.getTemperature(), flash.getSink());
  TensorPtr o = aggregate(*p, flash.getValue());
  if (!error.empty())
    return failure(error);

  // Through output_mod: dL/do per element, and per row dL/dlse and
  // dL/drow_sum (an output_mod that reads them).
  std::vector<double> dO = dout.data, dLse(B * H * N), dRowSum(B * H * N);
  if (flash.hasOutputMod()) {
    for (int64_t flat = 0, e = int64_t(dO.size()); flat < e; ++flat) {
      int64_t d = flat % Dv, i = flat / Dv % N, h = flat / (Dv * N) % H,
              b = flat / (Dv * N * H);
      Scalar args[7];
      args[0].f = o->data[flat];
      args[1].i = b, args[2].i = h, args[3].i = i, args[4].i = d;
      args[5].f = rowLse[flat / Dv], args[6].f = rowSum[flat / Dv];
      llvm::DenseMap<Value, Scalar> values;
      evalRegion(flash.getOutputMod(), args, values);
      double rowStats[2] = {0, 0};
      dO[flat] = reverseRegion(flash.getOutputMod(), values, dout.data[flat],
                               grads, rowStats);
      dLse[flat / Dv] += rowStats[0];
      dRowSum[flat / Dv] += rowStats[1];
    }
  }

  const double temperature =
      flash.getTemperature() ? flash.getTemperature()->convertToDouble() : 1.0;
  const double bias = flash.getBias() ? flash.getBias()->convertToDouble() : 0;
  const double scale = flash.getScale() ? flash.getScale()->convertToDouble()
                                        : 1.0 / std::sqrt(double(D));
  const NormalizerKind kind = flash.getNormalizer();
  std::vector<double> dP(M), dT(M);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t hk = h / group;
      for (int64_t i = 0; i < N; ++i) {
        const int64_t row = (b * H + h) * N + i;
        const double *pr = &p->data[row * M];
        const double *dor = &dO[row * Dv];
        // dV += p^T dO; dP = dO V^T (+ dL/drow_sum: the row sum adds up
        // the weights).
        for (int64_t j = 0; j < M; ++j) {
          const double *vr = &v.data[((b * Hkv + hk) * M + j) * Dv];
          double *dvr = &grads.dv.data[((b * Hkv + hk) * M + j) * Dv];
          double *nvr = &grads.dvNoise.data[((b * Hkv + hk) * M + j) * Dv];
          double dot = 0;
          for (int64_t d = 0; d < Dv; ++d) {
            dvr[d] += pr[j] * dor[d];
            nvr[d] += (pr[j] * dor[d]) * (pr[j] * dor[d]);
            dot += dor[d] * vr[d];
          }
          dP[j] = dot + dRowSum[row];
        }
        // The normalizer's backward: dL/dt for the kept pairs.
        double rowDot = 0;
        for (int64_t j = 0; j < M; ++j)
          rowDot += pr[j] * dP[j];
        // Softmax: lse moves with every weight (d lse / dt = p), so dL/dlse
        // comes off rowDot: dL/dt = p (dP - rowDot + dL/dlse). A sink of
        // weight w = exp(sink - lse) moves against every key's weight:
        // dL/dsink = -w (rowDot - dL/dlse). (dP holds dL/drow_sum.)
        if (kind == NormalizerKind::Softmax) {
          rowDot -= dLse[row];
          if (flash.hasSink()) {
            Scalar args[2];
            args[0].i = b + inputs.batchOffset, args[1].i = h;
            llvm::DenseMap<Value, Scalar> values;
            double sink = evalRegion(flash.getSink(), args, values).f;
            double w =
                std::isinf(rowLse[row]) ? 0 : std::exp(sink - rowLse[row]);
            double dsink = -w * rowDot;
            if (dsink != 0)
              reverseRegion(flash.getSink(), values, dsink, grads);
          }
        }
        for (int64_t j = 0; j < M; ++j) {
          const int64_t flat = row * M + j;
          const double u = s->data[flat] / temperature + bias;
          double du = 0;
          if (s->keep[flat]) {
            switch (kind) {
            case NormalizerKind::Softmax:
              du = pr[j] * (dP[j] - rowDot);
              break;
            case NormalizerKind::Sigmoid:
              du = dP[j] * pr[j] * (1 - pr[j]);
              break;
            case NormalizerKind::Relu:
              du = u > 0 ? dP[j] : 0;
              break;
            case NormalizerKind::Identity:
              du = dP[j];
              break;
            }
          }
          dT[j] = du / temperature;
        }
        // Through score_mod to the raw scores, then to q and k.
        const double *qr = &q.data[row * D];
        double *dqr = &grads.dq.data[row * D];
        for (int64_t j = 0; j < M; ++j) {
          if (dT[j] == 0)
            continue;
          double ds = dT[j];
          if (flash.hasScoreMod()) {
            Scalar args[5];
            args[0].f = raw->data[row * M + j];
            args[1].i = b, args[2].i = h, args[3].i = i, args[4].i = j;
            llvm::DenseMap<Value, Scalar> values;
            evalRegion(flash.getScoreMod(), args, values);
            ds = reverseRegion(flash.getScoreMod(), values, dT[j], grads);
          }
          const double *kr = &k.data[((b * Hkv + hk) * M + j) * D];
          double *dkr = &grads.dk.data[((b * Hkv + hk) * M + j) * D];
          double *nkr = &grads.dkNoise.data[((b * Hkv + hk) * M + j) * D];
          double *nqr = &grads.dqNoise.data[row * D];
          for (int64_t d = 0; d < D; ++d) {
            const double tq = scale * ds * kr[d], tk = scale * ds * qr[d];
            dqr[d] += tq;
            dkr[d] += tk;
            nqr[d] += tq * tq;
            nkr[d] += tk * tk;
          }
        }
        if (!error.empty())
          return failure(error);
      }
    }
  for (RefArray *noise : {&grads.dqNoise, &grads.dkNoise, &grads.dvNoise})
    for (double &x : noise->data)
      x = std::sqrt(x);
  return grads;
}

llvm::Expected<RefGradients>
attnc::evaluateReferenceBackward(VariantOp variant, const RefInputs &inputs,
                                 const RefArray &dout) {
  Interpreter interpreter(variant, inputs);
  return interpreter.backward(dout);
}
