// Registration of DeformablePSROIPooling: attribute parsing, shape/type
// inference, run-time RoI checks and thin wrappers around psroi_cpu.cc (cpu)
// and psroi_cuda.cu (gpu, with -DDCN_WITH_CUDA; else the gpu entry points
// return an error saying so).
//
// Inputs data (N, output_dim*group^2, H, W), rois (R, 5) = [batch, x1, y1, x2, y2]
// in image coordinates, trans (R, 2*classes, part, part) unless no_trans.
// One output (R, output_dim, pooled, pooled); contrib's hidden top_count output
// is recomputed in backward (lib_api ops cannot hide outputs). rois get a zero
// gradient.
//
// Bad values: rois must be finite with an integer batch index in [0, N) and
// x2 >= x1, y2 >= y1, else MXNetError (the RoI table is small, so forward and
// backward check it). trans may hold anything: a sample whose coordinate is
// NaN or infinite fails the positive in-range test and is skipped like a
// sample outside the map, so NaN/inf offsets give a finite, defined result (0
// for a bin without valid samples, and a zero gradient) and never an
// out-of-bounds read.
#include <climits>
#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "../common/attrs.h"
#include "../common/op_glue.h"
#include "../common/parallel.h"
#include "psroi_cpu.h"
#ifdef DCN_WITH_CUDA
#include "psroi_cuda.h"
#endif

using namespace mxnet::ext;

namespace dcnops {
namespace {

const char* kOp = "DeformablePSROIPooling";

struct PoolParams {
  double spatial_scale, trans_std;
  int64_t output_dim, group, pooled, part, spp;
  bool no_trans;

  int num_inputs() const { return no_trans ? 2 : 3; }
  std::vector<const char*> input_names() const {
    if (no_trans) return {"data", "rois"};
    return {"data", "rois", "trans"};
  }
};

bool parse_params(const Attrs& attrs, PoolParams* p) {
  AttrReader r(kOp, attrs);
  if (!r.check_known({"spatial_scale", "output_dim", "group_size", "pooled_size", "part_size",
                      "sample_per_part", "trans_std", "no_trans"}))
    return false;
  p->spatial_scale = r.real("spatial_scale", 0, true);
  p->output_dim = r.integer("output_dim", 0, true);
  p->group = r.integer("group_size", 0, true);
  p->pooled = r.integer("pooled_size", 0, true);
  p->part = r.integer("part_size", 0);
  p->spp = r.integer("sample_per_part", 1);
  p->trans_std = r.real("trans_std", 0.0);
  p->no_trans = r.boolean("no_trans", false);
  if (!r.ok()) return false;
  if (!(p->spatial_scale > 0) || float(p->spatial_scale) <= 0.0f)
    return r.fail() << "attribute 'spatial_scale' must be > 0 (1 / feature stride), got " << p->spatial_scale,
           false;
  if (p->trans_std < 0)
    return r.fail() << "attribute 'trans_std' must be >= 0, got " << p->trans_std, false;
  const int64_t kMax = 1 << 16;  // keeps every size product far from overflow
  struct {
    const char* name;
    int64_t value, lo;
  } ints[] = {{"output_dim", p->output_dim, 1}, {"group_size", p->group, 1}, {"pooled_size", p->pooled, 1},
              {"part_size", p->part, 0},        {"sample_per_part", p->spp, 1}};
  for (const auto& a : ints) {
    if (a.value < a.lo || a.value > kMax)
      return r.fail() << "attribute '" << a.name << "' must be in [" << a.lo << ", " << kMax << "], got "
                      << a.value,
             false;
  }
  if (p->part == 0) p->part = p->pooled;
  if (p->output_dim * p->group * p->group > INT_MAX)
    return r.fail() << "output_dim*group_size^2 = " << p->output_dim * p->group * p->group
                    << " data channels is too many (must be < 2^31)",
           false;
  if (p->pooled * p->pooled > kMax || p->group * p->group > kMax || p->part * p->part > kMax)
    return r.fail() << "pooled_size, group_size and part_size must each be <= 256", false;
  return true;
}

// Checks and completes the input shapes; fills the geometry that depends on
// shapes only (N, C, H, W, R, classes). Unknown dims are (unsigned)-1; a 0 is a
// real zero (MXNet turns legacy "0 = unknown" into -1 before calling us).
bool infer_all(const PoolParams& p, std::vector<Shape>* in, PSROIGeom* g) {
  if ((int)in->size() != p.num_inputs()) {
    DCN_ERROR(kOp) << "expected " << p.num_inputs() << " inputs ("
                   << (p.no_trans ? "data, rois" : "data, rois, trans") << "), got " << in->size();
    return false;
  }
  const int64_t C = p.output_dim * p.group * p.group;
  Shape& data = (*in)[0];
  Shape& rois = (*in)[1];
  g->N = g->H = g->W = -1;
  g->C = C;
  if (!data.empty()) {
    if (data.size() != 4) {
      DCN_ERROR(kOp) << "input 'data' must be 4-D (N, C, H, W), got " << data.size() << "-D shape "
                     << shape_str(data);
      return false;
    }
    if (data[1] != kUnknownDim && data[1] != C) {
      DCN_ERROR(kOp) << "input 'data' has " << data[1] << " channels, expected output_dim*group_size^2 = "
                     << p.output_dim << "*" << p.group << "^2 = " << C;
      return false;
    }
    if ((data[2] != kUnknownDim && data[2] == 0) || (data[3] != kUnknownDim && data[3] == 0)) {
      DCN_ERROR(kOp) << "input 'data' must have H, W >= 1, got shape " << shape_str(data);
      return false;
    }
    if (data[2] != kUnknownDim && data[3] != kUnknownDim && int64_t(data[2]) * data[3] >= (int64_t(1) << 31)) {
      DCN_ERROR(kOp) << "input 'data' plane H*W = " << int64_t(data[2]) * data[3] << " is too large (< 2^31)";
      return false;
    }
    data[1] = unsigned(C);
    g->N = data[0] == kUnknownDim ? -1 : data[0];
    g->H = data[2] == kUnknownDim ? -1 : data[2];
    g->W = data[3] == kUnknownDim ? -1 : data[3];
  }
  unsigned R = kUnknownDim;
  if (!rois.empty()) {
    if (rois.size() != 2 || (rois[1] != kUnknownDim && rois[1] != 5)) {
      DCN_ERROR(kOp) << "input 'rois' must be 2-D (R, 5) = [batch_index, x1, y1, x2, y2], got shape "
                     << shape_str(rois);
      return false;
    }
    rois[1] = 5;
    R = rois[0];
  }
  g->num_classes = 1;
  if (!p.no_trans) {
    Shape& trans = (*in)[2];
    if (!trans.empty()) {
      const Shape want_tail = {unsigned(p.part), unsigned(p.part)};
      bool ok = trans.size() == 4;
      if (ok && ((trans[2] != kUnknownDim && trans[2] != p.part) || (trans[3] != kUnknownDim && trans[3] != p.part)))
        ok = false;
      if (ok && trans[1] != kUnknownDim && (trans[1] == 0 || trans[1] % 2 != 0)) ok = false;
      if (!ok) {
        DCN_ERROR(kOp) << "input 'trans' must be 4-D (R, 2*num_classes, part_size, part_size) = (R, 2*k, "
                       << p.part << ", " << p.part << "), got shape " << shape_str(trans);
        return false;
      }
      if (trans[1] != kUnknownDim) {
        g->num_classes = trans[1] / 2;
        if (p.output_dim % g->num_classes != 0) {
          DCN_ERROR(kOp) << "input 'trans' has " << trans[1] << " channels = 2*" << g->num_classes
                         << " classes, but output_dim (" << p.output_dim
                         << ") is not divisible by the class count";
          return false;
        }
      }
      if (trans[0] != kUnknownDim) {
        if (R != kUnknownDim && trans[0] != R) {
          DCN_ERROR(kOp) << "input 'trans' has " << trans[0] << " rows but 'rois' has " << R
                         << "; both need one row per RoI";
          return false;
        }
        R = trans[0];
      }
      trans[2] = trans[3] = unsigned(p.part);
      if (R != kUnknownDim) trans[0] = R;
    }
  }
  if (R != kUnknownDim && rois.empty()) rois = {R, 5};
  if (R != kUnknownDim) rois[0] = R;
  // lib_api hands shapes back as unsigned values: an unknown dim returned here
  // would come back as a real 4294967295, so every shape must end up known.
  const std::vector<const char*> names = p.input_names();
  for (size_t i = 0; i < in->size(); ++i) {
    const Shape& sh = (*in)[i];
    bool known = !sh.empty();
    for (unsigned d : sh) known = known && d != kUnknownDim;
    if (!known) {
      DCN_ERROR(kOp) << "the shape of input '" << names[i] << "' must be known, got "
                     << (sh.empty() ? std::string("unknown") : shape_str(sh))
                     << (i == 1 && !sh.empty() ? " (legacy MXNet reads a 0 dimension as unknown: an empty RoI list "
                                                 "needs numpy shape semantics, e.g. `with mx.np_shape(True):`)"
                                               : "");
      return false;
    }
  }
  g->R = int64_t(R);
  g->output_dim = p.output_dim;
  g->group = p.group;
  g->pooled = p.pooled;
  g->part = p.part;
  g->spp = p.spp;
  g->no_trans = p.no_trans;
  g->spatial_scale = float(p.spatial_scale);
  g->trans_std = float(p.trans_std);
  return true;
}

MXReturnValue parse_attrs(const Attrs& attrs, int* num_in, int* num_out) {
  PoolParams p;
  if (!parse_params(attrs, &p)) return MX_FAIL;
  *num_in = p.num_inputs();
  *num_out = 1;
  return MX_SUCCESS;
}

MXReturnValue infer_type(const Attrs& attrs, std::vector<int>* in, std::vector<int>* out) {
  PoolParams p;
  if (!parse_params(attrs, &p)) return MX_FAIL;
  return infer_float_types(kOp, p.input_names(), in, out);
}

MXReturnValue infer_shape(const Attrs& attrs, std::vector<Shape>* in, std::vector<Shape>* out) {
  PoolParams p;
  PSROIGeom g;
  if (!parse_params(attrs, &p) || !infer_all(p, in, &g)) return MX_FAIL;
  (*out)[0] = {unsigned(g.R), unsigned(p.output_dim), unsigned(p.pooled), unsigned(p.pooled)};
  return MX_SUCCESS;
}

// Re-validates the actual tensors (a graph may bypass shape inference),
// including the RoI values, and returns the full geometry.
#ifdef DCN_WITH_CUDA
bool cuda_ok(int err) { return dcnops::cuda_ok(kOp, err); }
#endif

// IEEE half -> float on the host (fp16 RoIs are copied back for the check).
float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal
    const float f = std::ldexp(float(man), -24);
    return sign ? -f : f;
  }
  const uint32_t bits = exp == 31 ? (sign | 0x7f800000u | (man << 13)) : (sign | ((exp + 112) << 23) | (man << 13));
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// `dev` is the context the kernel runs on ("cpu" or "gpu"); every tensor must
// be there. float16 is a GPU storage type only. On the GPU the RoI table is
// copied to the host (R x 5 values) for the value checks.
bool validate_tensors(const PoolParams& p, const std::vector<MXTensor>& ins, PSROIGeom* g,
                      const char* dev = "cpu", void* stream = nullptr) {
  const std::vector<const char*> names = p.input_names();
  if (ins.size() != names.size()) {
    DCN_ERROR(kOp) << "expected " << names.size() << " inputs, got " << ins.size();
    return false;
  }
  const int dtype = ins[0].dtype;
  const bool gpu = std::string(dev) == "gpu";
  std::vector<Shape> shapes;
  if (!check_inputs(kOp, ins, names, dev, &shapes)) return false;
  if (shapes[0].size() != 4) {  // infer_all accepts an unknown (empty) data shape; a tensor has one
    DCN_ERROR(kOp) << "input 'data' must be 4-D (N, C, H, W), got " << shapes[0].size() << "-D shape "
                   << shape_str(shapes[0]);
    return false;
  }
  if (shapes[1].size() != 2) {
    DCN_ERROR(kOp) << "input 'rois' must be 2-D (R, 5) = [batch_index, x1, y1, x2, y2], got shape "
                   << shape_str(shapes[1]);
    return false;
  }
  if (!p.no_trans && shapes[2].size() != 4) {
    DCN_ERROR(kOp) << "input 'trans' must be 4-D (R, 2*num_classes, part_size, part_size), got shape "
                   << shape_str(shapes[2]);
    return false;
  }
  std::vector<Shape> checked = shapes;
  if (!infer_all(p, &checked, g)) return false;
  if (checked != shapes) {
    DCN_ERROR(kOp) << "input shapes are inconsistent";
    return false;
  }
  const void* roi_ptr = ins[1].data_ptr;
  std::vector<double> host_rois;  // gpu: a host copy (fp16 widened; float -> double is exact)
#ifdef DCN_WITH_CUDA
  if (gpu && g->R > 0) {
    const size_t n = size_t(g->R) * 5, elem = dtype == kFloat64 ? 8 : (dtype == kFloat16 ? 2 : 4);
    std::vector<unsigned char> raw(n * elem);
    if (!cuda_ok(gpu::cuda_set_device(ins[0].ctx.dev_id)) ||
        !cuda_ok(gpu::cuda_copy_to_host(raw.data(), roi_ptr, raw.size(), stream)))
      return false;
    host_rois.resize(n);
    for (size_t i = 0; i < n; ++i) {
      if (dtype == kFloat64) std::memcpy(&host_rois[i], raw.data() + 8 * i, 8);
      else if (dtype == kFloat32) { float f; std::memcpy(&f, raw.data() + 4 * i, 4); host_rois[i] = f; }
      else { uint16_t h; std::memcpy(&h, raw.data() + 2 * i, 2); host_rois[i] = half_to_float(h); }
    }
  }
#else
  (void)stream;
#endif
  RoiProblem bad;
  if (gpu) bad = psroi_check_rois(*g, host_rois.data());
  else if (dtype == kFloat64) bad = psroi_check_rois(*g, static_cast<const double*>(roi_ptr));
  else bad = psroi_check_rois(*g, static_cast<const float*>(roi_ptr));
  if (gpu) roi_ptr = host_rois.data();
  const bool as_double = gpu || dtype == kFloat64;
  if (bad.roi >= 0) {
    const void* v = roi_ptr;
    auto at = [&](int k) {
      return as_double ? static_cast<const double*>(v)[bad.roi * 5 + k]
                       : double(static_cast<const float*>(v)[bad.roi * 5 + k]);
    };
    DCN_ERROR(kOp) << "input 'rois' row " << bad.roi << " = [" << at(0) << ", " << at(1) << ", " << at(2)
                   << ", " << at(3) << ", " << at(4) << "] " << bad.what
                   << " (expected finite [batch_index, x1, y1, x2, y2] with an integer batch_index in [0, "
                   << g->N << ") and x2 >= x1, y2 >= y1)";
    return false;
  }
  return true;
}

template <typename T>
MXReturnValue forward_typed(const PoolParams& p, const PSROIGeom& g, std::vector<MXTensor>* in,
                            std::vector<MXTensor>* out, const OpResource& res) {
  if (g.R == 0) return MX_SUCCESS;
  ThreadScope threads;
  void* ws = cpu_workspace(kOp, res, psroi_workspace_bytes<T>(g, false));
  if (!ws) return MX_FAIL;
  psroi_forward<T>(g, (*in)[0].data<T>(), (*in)[1].data<T>(), p.no_trans ? nullptr : (*in)[2].data<T>(),
                   (*out)[0].data<T>(), ws);
  return MX_SUCCESS;
}

template <typename T>
MXReturnValue backward_typed(const PoolParams& p, const PSROIGeom& g, std::vector<MXTensor>* in,
                             std::vector<MXTensor>* out, const OpResource& res) {
  // in: dout, data, rois[, trans], output;  out: ddata, drois[, dtrans].
  ThreadScope threads;
  void* ws = cpu_workspace(kOp, res, psroi_workspace_bytes<T>(g, true));
  if (!ws) return MX_FAIL;
  T* drois = (*out)[1].data<T>();
  for (int64_t i = 0; i < g.R * 5; ++i) drois[i] = T(0);
  psroi_backward<T>(g, (*in)[0].data<T>(), (*in)[1].data<T>(), (*in)[2].data<T>(),
                    p.no_trans ? nullptr : (*in)[3].data<T>(), (*out)[0].data<T>(),
                    p.no_trans ? nullptr : (*out)[2].data<T>(), ws);
  return MX_SUCCESS;
}

MXReturnValue forward(const Attrs& attrs, std::vector<MXTensor>* in, std::vector<MXTensor>* out,
                      const OpResource& res) {
  PoolParams p;
  PSROIGeom g;
  if (!parse_params(attrs, &p) || !validate_tensors(p, *in, &g)) return MX_FAIL;
  return dispatch_cpu_dtype((*in)[0].dtype, [&](auto t) { return forward_typed<decltype(t)>(p, g, in, out, res); });
}

// Backward's inputs are (dout, forward inputs..., output): parse, check the counts, validate the
// forward inputs on `dev` and the output gradient (shared by the CPU and GPU backward).
bool backward_prologue(const Attrs& attrs, const std::vector<MXTensor>& in, const std::vector<MXTensor>& out,
                       const char* dev, void* stream, PoolParams* p, PSROIGeom* g, std::vector<MXTensor>* fwd_in) {
  if (!parse_params(attrs, p)) return false;
  const size_t n_fwd = p->num_inputs();
  if (in.size() != n_fwd + 2 || out.size() != n_fwd) {
    DCN_ERROR(kOp) << "backward got " << in.size() << " inputs and " << out.size() << " outputs";
    return false;
  }
  fwd_in->assign(in.begin() + 1, in.begin() + 1 + n_fwd);
  if (!validate_tensors(*p, *fwd_in, g, dev, stream)) return false;
  const MXTensor& dout = in[0];
  const std::vector<int64_t> want = {g->R, p->output_dim, p->pooled, p->pooled};
  if (dout.dtype != (*fwd_in)[0].dtype || dout.shape != want) {
    DCN_ERROR(kOp) << "output gradient has shape " << shape_str(dout.shape) << " and dtype "
                   << dtype_name(dout.dtype) << ", expected " << shape_str(want) << " "
                   << dtype_name((*fwd_in)[0].dtype);
    return false;
  }
  return true;
}

MXReturnValue backward(const Attrs& attrs, std::vector<MXTensor>* in, std::vector<MXTensor>* out,
                       const OpResource& res) {
  PoolParams p;
  PSROIGeom g;
  std::vector<MXTensor> fwd_in;
  if (!backward_prologue(attrs, *in, *out, "cpu", nullptr, &p, &g, &fwd_in)) return MX_FAIL;
  return dispatch_cpu_dtype((*in)[0].dtype, [&](auto t) { return backward_typed<decltype(t)>(p, g, in, out, res); });
}

#ifdef DCN_WITH_CUDA
MXReturnValue forward_gpu(const Attrs& attrs, std::vector<MXTensor>* in, std::vector<MXTensor>* out,
                          const OpResource& res) {
  PoolParams p;
  PSROIGeom g;
  void* stream = res.get_cuda_stream();
  if (!parse_params(attrs, &p) || !validate_tensors(p, *in, &g, "gpu", stream)) return MX_FAIL;
  if (g.R == 0) return MX_SUCCESS;
  const int dtype = (*in)[0].dtype;
  void* ws = gpu_workspace(kOp, res, gpu::psroi_workspace_bytes(g, dtype, false, false));
  if (!ws) return MX_FAIL;
  return cuda_ok(gpu::psroi_forward(g, dtype, (*in)[0].data_ptr, (*in)[1].data_ptr,
                                    p.no_trans ? nullptr : (*in)[2].data_ptr, (*out)[0].data_ptr, ws, stream))
             ? MX_SUCCESS
             : MX_FAIL;
}

MXReturnValue backward_gpu(const Attrs& attrs, std::vector<MXTensor>* in, std::vector<MXTensor>* out,
                           const OpResource& res) {
  PoolParams p;
  PSROIGeom g;
  void* stream = res.get_cuda_stream();
  std::vector<MXTensor> fwd_in;
  if (!backward_prologue(attrs, *in, *out, "gpu", stream, &p, &g, &fwd_in)) return MX_FAIL;
  const MXTensor& dout = (*in)[0];
  const int dtype = fwd_in[0].dtype;
  const bool det = gpu::deterministic_requested();
  void* ws = gpu_workspace(kOp, res, gpu::psroi_workspace_bytes(g, dtype, true, det));
  if (!ws) return MX_FAIL;
  // rois get a zero gradient
  const size_t elem = dtype == kFloat64 ? 8 : (dtype == kFloat16 ? 2 : 4);
  if (!cuda_ok(gpu::cuda_memset_async((*out)[1].data_ptr, 0, size_t(g.R) * 5 * elem, stream))) return MX_FAIL;
  return cuda_ok(gpu::psroi_backward(g, dtype, det, dout.data_ptr, (*in)[1].data_ptr, (*in)[2].data_ptr,
                                     p.no_trans ? nullptr : (*in)[3].data_ptr, (*out)[0].data_ptr,
                                     p.no_trans ? nullptr : (*out)[2].data_ptr, ws, stream))
             ? MX_SUCCESS
             : MX_FAIL;
}
#else
MXReturnValue forward_gpu(const Attrs&, std::vector<MXTensor>*, std::vector<MXTensor>*, const OpResource&) {
  return no_cuda(kOp);
}
MXReturnValue backward_gpu(const Attrs&, std::vector<MXTensor>*, std::vector<MXTensor>*, const OpResource&) {
  return no_cuda(kOp);
}
#endif

}  // namespace
}  // namespace dcnops

REGISTER_OP(DeformablePSROIPooling)
    .setParseAttrs(dcnops::parse_attrs)
    .setInferType(dcnops::infer_type)
    .setInferShape(dcnops::infer_shape)
    .setForward(dcnops::forward, "cpu")
    .setBackward(dcnops::backward, "cpu")
    .setForward(dcnops::forward_gpu, "gpu")
    .setBackward(dcnops::backward_gpu, "gpu");
