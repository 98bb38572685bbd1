// Runs an AOT entry point (attnc --emit=cuda -o K.cu, entry declared in K.h)
// on the inputs `attnc run --save DIR` wrote, and compares its out and lse
// with the JIT's outputs saved beside them (which that run checked against
// the float64 reference). Outputs are poisoned first, so an unwritten
// element fails. test/gpu/aot_check.sh writes aot_call.h beside K.h: it
// includes K.h and defines
//   AOT_CALL     <entry>(&q, &k, &v, &out, [&lse,] PARAMS, &status, stream)
//                with param<attnc_memrefR>(i) for tensors, scalar(i) else;
//   PARAM_TYPES  each param's element type: f float, i int32, l int64,
//                s scalar.
//
// usage: aot_main DIR    exit 0 when every element is within tolerance.
#include "aot_call.h"

#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {
struct Saved {
  std::vector<int64_t> dims;
  std::vector<double> values;
};

std::map<std::string, Saved> load(const std::string &dir, std::vector<std::string> &order) {
  std::map<std::string, Saved> all;
  std::ifstream manifest(dir + "/manifest.txt");
  std::string line;
  while (std::getline(manifest, line)) {
    std::istringstream in(line);
    std::string name;
    in >> name;
    Saved s;
    for (int64_t d; in >> d;)
      s.dims.push_back(d);
    std::ifstream data(dir + "/" + name + ".f64", std::ios::binary);
    size_t n = 1;
    for (int64_t d : s.dims)
      n *= size_t(d);
    s.values.resize(n);
    data.read(reinterpret_cast<char *>(s.values.data()), std::streamsize(n * 8));
    all[name] = s;
    order.push_back(name);
  }
  return all;
}

uint16_t toBF16(double x) {
  float f = float(x);
  uint32_t u;
  memcpy(&u, &f, 4);
  return uint16_t((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}
double fromBF16(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/// Room for a descriptor of any rank up to 4: pointers, offset, then sizes
/// and strides (R each), as attnc_memrefR lays them out.
struct AnyMemref {
  void *allocated, *aligned;
  int64_t offset, shape[8];
};

/// A device copy of `bytes` and a contiguous descriptor over it.
AnyMemref anyView(const void *host, size_t bytes, const std::vector<int64_t> &dims) {
  void *device = nullptr;
  cudaMalloc(&device, bytes ? bytes : 16);
  if (host)
    cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice);
  AnyMemref m = {};
  m.allocated = m.aligned = device;
  int rank = int(dims.size());
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    m.shape[d] = dims[size_t(d)];
    m.shape[rank + d] = stride;
    stride *= dims[size_t(d)];
  }
  return m;
}
template <class M> M view(const void *host, size_t bytes, const std::vector<int64_t> &dims) {
  AnyMemref any = anyView(host, bytes, dims);
  M m;
  memcpy(&m, &any, sizeof m);
  return m;
}

attnc_memref4 bf16View(const Saved &s) {
  std::vector<uint16_t> h(s.values.size());
  for (size_t i = 0; i < h.size(); ++i)
    h[i] = toBF16(s.values[i]);
  return view<attnc_memref4>(h.data(), h.size() * 2, s.dims);
}

} // namespace

// The variant's params in order: tensors as descriptors, scalars as values
// (AOT_CALL uses the accessors a variant needs).
static std::vector<AnyMemref> params;
static std::vector<double> scalars;
template <class M> inline M *param(int i) { return reinterpret_cast<M *>(&params[size_t(i)]); }
inline double scalar(int i) { return scalars[size_t(i)]; }

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: aot_main DIR\n");
    return 2;
  }
  std::vector<std::string> order;
  std::map<std::string, Saved> saved = load(argv[1], order);
  attnc_memref4 q = bf16View(saved["q"]), k = bf16View(saved["k"]), v = bf16View(saved["v"]);
  const Saved &refOut = saved["out"];
  std::vector<uint16_t> poison(refOut.values.size(), 0x7fc1);
  attnc_memref4 out = view<attnc_memref4>(poison.data(), poison.size() * 2, refOut.dims);
  bool hasLse = saved.count("lse") != 0;
  std::vector<float> lsePoison(hasLse ? saved["lse"].values.size() : 0, NAN);
  attnc_memref3 lse = view<attnc_memref3>(lsePoison.data(), lsePoison.size() * 4,
                                          hasLse ? saved["lse"].dims : std::vector<int64_t>{0, 0, 0});
  const char *types = PARAM_TYPES;
  for (const std::string &name : order) {
    if (name.rfind("param.", 0) != 0)
      continue;
    const Saved &s = saved[name];
    char type = types[params.size()];
    scalars.push_back(s.values.empty() ? 0 : s.values[0]);
    std::vector<float> f(s.values.begin(), s.values.end());
    std::vector<int32_t> i32(s.values.begin(), s.values.end());
    std::vector<int64_t> i64(s.values.begin(), s.values.end());
    params.push_back(s.dims.empty()  ? AnyMemref{}
                     : type == 'f'   ? anyView(f.data(), f.size() * 4, s.dims)
                     : type == 'l'   ? anyView(i64.data(), i64.size() * 8, s.dims)
                                     : anyView(i32.data(), i32.size() * 4, s.dims));
  }
  int zero = 0;
  attnc_memref1 status = view<attnc_memref1>(&zero, 4, {1});
  cudaStream_t stream;
  cudaStreamCreate(&stream);
  // A head dim the kernel was not built for is refused, not run.
  k.sizes[3] += 8;
  int refused = AOT_CALL;
  k.sizes[3] -= 8;
  if (refused != cudaErrorInvalidValue) {
    printf("aot: FAIL: a wrong head dim gave %d, not cudaErrorInvalidValue\n", refused);
    return 1;
  }
  int rc = AOT_CALL;
  cudaError_t synced = cudaStreamSynchronize(stream);
  if (rc != 0 || synced != cudaSuccess) {
    printf("aot: FAIL: the entry point returned %d, the stream %s\n", rc, cudaGetErrorString(synced));
    return 1;
  }
  int statusWord = -1;
  cudaMemcpy(&statusWord, status.aligned, 4, cudaMemcpyDeviceToHost);
  std::vector<uint16_t> got(poison.size());
  cudaMemcpy(got.data(), out.aligned, got.size() * 2, cudaMemcpyDeviceToHost);
  double worst = 0;
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double g = fromBF16(got[i]), r = refOut.values[i];
    double err = std::fabs(g - r);
    if (!(err <= 1e-2 + 4e-2 * std::fabs(r)))
      ++bad;
    worst = std::isnan(err) ? INFINITY : std::max(worst, err);
  }
  if (hasLse) {
    std::vector<float> gotLse(lsePoison.size());
    cudaMemcpy(gotLse.data(), lse.aligned, gotLse.size() * 4, cudaMemcpyDeviceToHost);
    const std::vector<double> &r = saved["lse"].values;
    for (size_t i = 0; i < gotLse.size(); ++i) {
      bool same = std::isinf(r[i]) ? gotLse[i] == float(r[i]) : std::fabs(gotLse[i] - r[i]) <= 1e-2 + 1e-3 * std::fabs(r[i]);
      bad += !same;
    }
  }
  printf("aot: %s  %zu elements, max abs difference from the JIT %.3g, status %d\n",
         bad == 0 && statusWord == 0 ? "PASS" : "FAIL", got.size(), worst, statusWord);
  return bad == 0 && statusWord == 0 ? 0 : 1;
}
