// Registration of DeformableConvolution and ModulatedDeformableConvolution:
// attribute parsing, shape/type inference and the thin forward/backward
// wrappers around the plain kernels in deform_conv_cpu.cc (cpu) and
// deform_conv_cuda.cu (gpu, compiled in with -DDCN_WITH_CUDA; without it the
// gpu entry points return an error saying so).
#include <climits>
#include <string>
#include <vector>

#include "../common/attrs.h"
#include "../common/op_glue.h"
#include "../common/parallel.h"
#include "deform_conv_cpu.h"
#ifdef DCN_WITH_CUDA
#include "deform_conv_cuda.h"
#endif

using namespace mxnet::ext;

namespace dcnops {
namespace {

const char* kDeform = "DeformableConvolution";
const char* kModulated = "ModulatedDeformableConvolution";

struct ConvParams {
  const char* op;
  bool modulated;
  int64_t kh, kw, sh, sw, dh, dw, ph, pw;
  int64_t num_filter, groups, dgroups, workspace_mb;
  bool no_bias;
  BorderRule rule;

  int num_inputs() const { return (modulated ? 4 : 3) + (no_bias ? 0 : 1); }
  std::vector<const char*> input_names() const {
    std::vector<const char*> names = {"data", "offset"};
    if (modulated) names.push_back("mask");
    names.push_back("weight");
    if (!no_bias) names.push_back("bias");
    return names;
  }
  int weight_index() const { return modulated ? 3 : 2; }
};

bool pair_attr(AttrReader* r, const char* key, std::vector<int64_t> dflt, int64_t min_value,
               bool required, int64_t* a, int64_t* b) {
  std::vector<int64_t> v = r->tuple(key, dflt, required);
  if (!r->ok()) return false;
  if (v.empty()) v = dflt;
  if (v.size() != 2) {
    r->fail() << "attribute '" << key << "' must have 2 elements (h, w) for 2-D data, got "
              << v.size() << " (only NCHW 2-D convolution is supported)";
    return false;
  }
  if (v[0] < min_value || v[1] < min_value) {
    r->fail() << "attribute '" << key << "' must be >= " << min_value << ", got (" << v[0] << ", "
              << v[1] << ")";
    return false;
  }
  *a = v[0];
  *b = v[1];
  return true;
}

bool parse_params(const char* op, const Attrs& attrs, ConvParams* p) {
  AttrReader r(op, attrs);
  p->op = op;
  p->modulated = std::string(op) == kModulated;
  std::set<std::string> known = {"kernel",    "stride",  "dilate",  "pad",    "num_filter",
                                 "num_group", "num_deformable_group", "workspace", "no_bias", "layout"};
  if (p->modulated) known.insert("im2col_step");
  else known.insert("border_rule");
  if (!r.check_known(known)) return false;
  if (!pair_attr(&r, "kernel", {}, 1, true, &p->kh, &p->kw)) return false;
  if (!pair_attr(&r, "stride", {1, 1}, 1, false, &p->sh, &p->sw)) return false;
  if (!pair_attr(&r, "dilate", {1, 1}, 1, false, &p->dh, &p->dw)) return false;
  if (!pair_attr(&r, "pad", {0, 0}, 0, false, &p->ph, &p->pw)) return false;
  p->num_filter = r.integer("num_filter", 0, true);
  p->groups = r.integer("num_group", 1);
  p->dgroups = r.integer("num_deformable_group", 1);
  p->workspace_mb = r.integer("workspace", 1024);
  p->no_bias = r.boolean("no_bias", false);
  if (p->modulated) r.integer("im2col_step", 64);  // accepted for compatibility; chunking is automatic
  if (!r.ok()) return false;
  if (p->num_filter < 1) return r.fail() << "attribute 'num_filter' must be >= 1, got " << p->num_filter, false;
  if (p->groups < 1) return r.fail() << "attribute 'num_group' must be >= 1, got " << p->groups, false;
  if (p->dgroups < 1)
    return r.fail() << "attribute 'num_deformable_group' must be >= 1, got " << p->dgroups, false;
  if (p->workspace_mb < 0) return r.fail() << "attribute 'workspace' must be >= 0 (MB)", false;
  std::string layout = r.str("layout", "None");
  if (layout != "None" && layout != "NCHW")
    return r.fail() << "attribute 'layout' must be NCHW (or None), got '" << layout << "'", false;
  std::string rule = r.str("border_rule", "dcnv1");
  if (rule == "dcnv1") p->rule = BorderRule::kDCNv1;
  else if (rule == "dcnv2") p->rule = BorderRule::kDCNv2;
  else return r.fail() << "attribute 'border_rule' must be 'dcnv1' or 'dcnv2', got '" << rule << "'", false;
  if (p->modulated) p->rule = BorderRule::kDCNv2;
  if (p->num_filter % p->groups != 0)
    return r.fail() << "num_filter (" << p->num_filter << ") must be divisible by num_group ("
                    << p->groups << ")", false;
  return true;
}

// Geometry from the data shape; checks everything that depends on data alone.
bool make_geom(const ConvParams& p, const std::vector<int64_t>& data, DeformConvGeom* g) {
  if (data.size() != 4) {
    DCN_ERROR(p.op) << "input 'data' must be 4-D (N, C, H, W), got " << data.size()
                    << "-D shape " << shape_str(data);
    return false;
  }
  g->N = data[0];
  g->C = data[1];
  g->H = data[2];
  g->W = data[3];
  g->F = p.num_filter;
  g->kh = p.kh; g->kw = p.kw; g->sh = p.sh; g->sw = p.sw;
  g->dh = p.dh; g->dw = p.dw; g->ph = p.ph; g->pw = p.pw;
  g->groups = p.groups;
  g->dgroups = p.dgroups;
  g->rule = p.rule;
  g->col_budget_bytes = std::min<int64_t>(std::max<int64_t>(p.workspace_mb, 1), 64) << 20;
  if (g->C < 1 || g->H < 1 || g->W < 1) {
    DCN_ERROR(p.op) << "input 'data' must have C, H, W >= 1, got shape " << shape_str(data);
    return false;
  }
  if (g->C % p.groups != 0) {
    DCN_ERROR(p.op) << "data channels (" << g->C << ") must be divisible by num_group (" << p.groups << ")";
    return false;
  }
  if (g->C % p.dgroups != 0) {
    DCN_ERROR(p.op) << "data channels (" << g->C << ") must be divisible by num_deformable_group ("
                    << p.dgroups << ")";
    return false;
  }
  if (g->H * g->W >= (int64_t(1) << 31)) {
    DCN_ERROR(p.op) << "input 'data' plane H*W = " << g->H * g->W << " is too large (must be < 2^31)";
    return false;
  }
  const int64_t ekh = p.dh * (p.kh - 1) + 1, ekw = p.dw * (p.kw - 1) + 1;
  if (ekh > g->H + 2 * p.ph || ekw > g->W + 2 * p.pw) {
    DCN_ERROR(p.op) << "dilated kernel (" << ekh << ", " << ekw << ") is larger than the padded input ("
                    << g->H + 2 * p.ph << ", " << g->W + 2 * p.pw << ")";
    return false;
  }
  g->Ho = (g->H + 2 * p.ph - ekh) / p.sh + 1;
  g->Wo = (g->W + 2 * p.pw - ekw) / p.sw + 1;
  if (g->Ho * g->Wo >= (int64_t(1) << 31)) {  // also keeps each side within the unsigned dims MXNet takes
    DCN_ERROR(p.op) << "output plane " << g->Ho << " x " << g->Wo << " (from pad (" << p.ph << ", " << p.pw
                    << "), stride (" << p.sh << ", " << p.sw << ")) is too large (Ho*Wo must be < 2^31)";
    return false;
  }
  return true;
}

std::vector<int64_t> to64(const Shape& s) { return std::vector<int64_t>(s.begin(), s.end()); }

// Checks a per-pixel side input (offset or mask) against the expected shape,
// with a message that says which part is wrong.
bool check_side_input(const ConvParams& p, const DeformConvGeom& g, const char* arg, Shape* have,
                      int64_t channels, const char* channel_formula) {
  Shape want = {unsigned(g.N), unsigned(channels), unsigned(g.Ho), unsigned(g.Wo)};
  if (!have->empty()) {
    const Shape& h = *have;
    if (h.size() != 4) {
      DCN_ERROR(p.op) << "input '" << arg << "' must be 4-D " << shape_str(want) << ", got "
                      << h.size() << "-D shape " << shape_str(h);
      return false;
    }
    if (h[1] != kUnknownDim && h[1] != channels) {
      DCN_ERROR(p.op) << "input '" << arg << "' has " << h[1] << " channels, expected "
                      << channel_formula << " = " << channels;
      return false;
    }
    if ((h[2] != kUnknownDim && h[2] != g.Ho) || (h[3] != kUnknownDim && h[3] != g.Wo)) {
      DCN_ERROR(p.op) << "input '" << arg << "' has spatial size (" << h[2] << ", " << h[3]
                      << "), expected the output size (" << g.Ho << ", " << g.Wo << ")";
      return false;
    }
  }
  return unify_shape(p.op, arg, have, want, "batch must match data");
}

bool infer_all(const ConvParams& p, std::vector<Shape>* in, DeformConvGeom* g) {
  if ((int)in->size() != p.num_inputs()) {
    DCN_ERROR(p.op) << "expected " << p.num_inputs() << " inputs, got " << in->size();
    return false;
  }
  const Shape& data = (*in)[0];
  if (data.size() != 4 || !shape_known(data)) {
    if (data.size() != 4) return make_geom(p, to64(data), g);  // reports the rank error
    DCN_ERROR(p.op) << "input 'data' shape must be known, got " << shape_str(data);
    return false;
  }
  if (!make_geom(p, to64(data), g)) return false;
  const int64_t kk = p.kh * p.kw;
  if (!check_side_input(p, *g, "offset", &(*in)[1], 2 * p.dgroups * kk,
                        "2*num_deformable_group*kernel_h*kernel_w"))
    return false;
  if (p.modulated &&
      !check_side_input(p, *g, "mask", &(*in)[2], p.dgroups * kk, "num_deformable_group*kernel_h*kernel_w"))
    return false;
  Shape wshape = {unsigned(p.num_filter), unsigned(g->C / p.groups), unsigned(p.kh), unsigned(p.kw)};
  if (!unify_shape(p.op, "weight", &(*in)[p.weight_index()], wshape, "num_filter, C/num_group, kernel_h, kernel_w"))
    return false;
  if (!p.no_bias && !unify_shape(p.op, "bias", &(*in)[p.weight_index() + 1], Shape{unsigned(p.num_filter)}, "num_filter"))
    return false;
  return true;
}

MXReturnValue parse_attrs_common(const char* op, const Attrs& attrs, int* num_in, int* num_out) {
  ConvParams p;
  if (!parse_params(op, attrs, &p)) return MX_FAIL;
  *num_in = p.num_inputs();
  *num_out = 1;
  return MX_SUCCESS;
}

MXReturnValue infer_type_common(const char* op, const Attrs& attrs, std::vector<int>* in, std::vector<int>* out) {
  ConvParams p;
  if (!parse_params(op, attrs, &p)) return MX_FAIL;
  return infer_float_types(op, p.input_names(), in, out);
}

MXReturnValue infer_shape_common(const char* op, const Attrs& attrs, std::vector<Shape>* in,
                                 std::vector<Shape>* out) {
  ConvParams p;
  DeformConvGeom g;
  if (!parse_params(op, attrs, &p) || !infer_all(p, in, &g)) return MX_FAIL;
  (*out)[0] = {unsigned(g.N), unsigned(g.F), unsigned(g.Ho), unsigned(g.Wo)};
  return MX_SUCCESS;
}

// Re-validates the actual tensors (a graph may bypass shape inference) and
// returns the geometry; shared by forward and backward.
// `dev` is the context the kernel runs on ("cpu" or "gpu"); every tensor must
// be there. float16 is a GPU storage type only (the CPU kernels compute in T).
bool validate_tensors(const ConvParams& p, const std::vector<MXTensor>& ins, DeformConvGeom* g,
                      const char* dev = "cpu") {
  std::vector<Shape> shapes;
  if (!check_inputs(p.op, ins, p.input_names(), dev, &shapes)) return false;
  std::vector<Shape> checked = shapes;
  if (!infer_all(p, &checked, g)) return false;
  if (checked != shapes) {
    DCN_ERROR(p.op) << "input shapes changed after inference";
    return false;
  }
  return true;
}

template <typename T>
MXReturnValue forward_typed(const ConvParams& p, const DeformConvGeom& g, std::vector<MXTensor>* in,
                            std::vector<MXTensor>* out, const OpResource& res) {
  if (g.N == 0) return MX_SUCCESS;
  ThreadScope threads;
  void* ws = cpu_workspace(p.op, res, deform_conv_workspace_bytes<T>(g, false), /*huge_pages=*/true);
  if (!ws) return MX_FAIL;
  const int wi = p.weight_index();
  deform_conv_forward<T>(g, (*in)[0].data<T>(), (*in)[1].data<T>(), p.modulated ? (*in)[2].data<T>() : nullptr,
                         (*in)[wi].data<T>(), p.no_bias ? nullptr : (*in)[wi + 1].data<T>(),
                         (*out)[0].data<T>(), ws);
  return MX_SUCCESS;
}

template <typename T>
MXReturnValue backward_typed(const ConvParams& p, const DeformConvGeom& g, std::vector<MXTensor>* in,
                             std::vector<MXTensor>* out, const OpResource& res) {
  // in: dout, forward inputs..., forward output;  out: one gradient per forward input.
  if (g.N == 0) return MX_SUCCESS;
  ThreadScope threads;
  void* ws = cpu_workspace(p.op, res, deform_conv_workspace_bytes<T>(g, true), /*huge_pages=*/true);
  if (!ws) return MX_FAIL;
  const int wi = p.weight_index();
  deform_conv_backward<T>(g, (*in)[0].data<T>(), (*in)[1].data<T>(), (*in)[2].data<T>(),
                          p.modulated ? (*in)[3].data<T>() : nullptr, (*in)[1 + wi].data<T>(),
                          (*out)[0].data<T>(), (*out)[1].data<T>(), p.modulated ? (*out)[2].data<T>() : nullptr,
                          (*out)[wi].data<T>(), p.no_bias ? nullptr : (*out)[wi + 1].data<T>(), ws);
  return MX_SUCCESS;
}

MXReturnValue forward_common(const char* op, const Attrs& attrs, std::vector<MXTensor>* in,
                             std::vector<MXTensor>* out, const OpResource& res) {
  ConvParams p;
  DeformConvGeom g;
  if (!parse_params(op, attrs, &p) || !validate_tensors(p, *in, &g)) return MX_FAIL;
  return dispatch_cpu_dtype((*in)[0].dtype, [&](auto t) { return forward_typed<decltype(t)>(p, g, in, out, res); });
}

// Backward's inputs are (dout, forward inputs..., forward outputs): parse, check the counts and
// validate the forward inputs on `dev` (shared by the CPU and GPU backward).
bool backward_prologue(const char* op, const Attrs& attrs, const std::vector<MXTensor>& in,
                       const std::vector<MXTensor>& out, const char* dev, ConvParams* p, DeformConvGeom* g,
                       std::vector<MXTensor>* fwd_in) {
  if (!parse_params(op, attrs, p)) return false;
  const size_t n_fwd = p->num_inputs();
  if (in.size() < 1 + n_fwd || out.size() != n_fwd) {
    DCN_ERROR(op) << "backward got " << in.size() << " inputs and " << out.size() << " outputs";
    return false;
  }
  fwd_in->assign(in.begin() + 1, in.begin() + 1 + n_fwd);
  return validate_tensors(*p, *fwd_in, g, dev);
}

MXReturnValue backward_common(const char* op, const Attrs& attrs, std::vector<MXTensor>* in,
                              std::vector<MXTensor>* out, const OpResource& res) {
  ConvParams p;
  DeformConvGeom g;
  std::vector<MXTensor> fwd_in;
  if (!backward_prologue(op, attrs, *in, *out, "cpu", &p, &g, &fwd_in)) return MX_FAIL;
  return dispatch_cpu_dtype((*in)[0].dtype, [&](auto t) { return backward_typed<decltype(t)>(p, g, in, out, res); });
}

#ifdef DCN_WITH_CUDA
// GPU path: same validation, kernels from deform_conv_cuda.cu on MXNet's stream
// with MXNet-managed temporary memory.
MXReturnValue cuda_status(const char* op, int err) { return cuda_ok(op, err) ? MX_SUCCESS : MX_FAIL; }

// A larger column budget than on the CPU: fewer, bigger GEMMs (bounded by `workspace`).
void gpu_budget(const ConvParams& p, DeformConvGeom* g) {
  g->col_budget_bytes = std::min<int64_t>(std::max<int64_t>(p.workspace_mb, 1), 512) << 20;
}

MXReturnValue forward_gpu_common(const char* op, const Attrs& attrs, std::vector<MXTensor>* in,
                                 std::vector<MXTensor>* out, const OpResource& res) {
  ConvParams p;
  DeformConvGeom g;
  if (!parse_params(op, attrs, &p) || !validate_tensors(p, *in, &g, "gpu")) return MX_FAIL;
  if (g.N == 0) return MX_SUCCESS;
  gpu_budget(p, &g);
  if (cuda_status(op, gpu::cuda_set_device((*in)[0].ctx.dev_id)) != MX_SUCCESS) return MX_FAIL;
  const int dtype = (*in)[0].dtype;
  void* ws = gpu_workspace(op, res, gpu::deform_conv_workspace_bytes(g, dtype, false, false));
  if (!ws) return MX_FAIL;
  const int wi = p.weight_index();
  return cuda_status(op, gpu::deform_conv_forward(g, dtype, (*in)[0].data_ptr, (*in)[1].data_ptr,
                                                  p.modulated ? (*in)[2].data_ptr : nullptr, (*in)[wi].data_ptr,
                                                  p.no_bias ? nullptr : (*in)[wi + 1].data_ptr,
                                                  (*out)[0].data_ptr, ws, res.get_cuda_stream()));
}

MXReturnValue backward_gpu_common(const char* op, const Attrs& attrs, std::vector<MXTensor>* in,
                                  std::vector<MXTensor>* out, const OpResource& res) {
  ConvParams p;
  DeformConvGeom g;
  std::vector<MXTensor> fwd_in;
  if (!backward_prologue(op, attrs, *in, *out, "gpu", &p, &g, &fwd_in)) return MX_FAIL;
  if (g.N == 0) return MX_SUCCESS;
  gpu_budget(p, &g);
  if (cuda_status(op, gpu::cuda_set_device(fwd_in[0].ctx.dev_id)) != MX_SUCCESS) return MX_FAIL;
  const int dtype = fwd_in[0].dtype;
  const bool det = gpu::deterministic_requested();
  void* ws = gpu_workspace(op, res, gpu::deform_conv_workspace_bytes(g, dtype, true, det));
  if (!ws) return MX_FAIL;
  const int wi = p.weight_index();
  return cuda_status(
      op, gpu::deform_conv_backward(g, dtype, det, (*in)[0].data_ptr, (*in)[1].data_ptr, (*in)[2].data_ptr,
                                    p.modulated ? (*in)[3].data_ptr : nullptr, (*in)[1 + wi].data_ptr,
                                    (*out)[0].data_ptr, (*out)[1].data_ptr,
                                    p.modulated ? (*out)[2].data_ptr : nullptr, (*out)[wi].data_ptr,
                                    p.no_bias ? nullptr : (*out)[wi + 1].data_ptr, ws, res.get_cuda_stream()));
}
#else
MXReturnValue forward_gpu_common(const char* op, const Attrs&, std::vector<MXTensor>*, std::vector<MXTensor>*,
                                 const OpResource&) {
  return no_cuda(op);
}
MXReturnValue backward_gpu_common(const char* op, const Attrs&, std::vector<MXTensor>*, std::vector<MXTensor>*,
                                  const OpResource&) {
  return no_cuda(op);
}
#endif

// Per-op entry points (lib_api takes plain function pointers).
#define DCN_CONV_ENTRY_POINTS(prefix, opname)                                                        \
  MXReturnValue prefix##_parse(const Attrs& a, int* ni, int* no) { return parse_attrs_common(opname, a, ni, no); } \
  MXReturnValue prefix##_type(const Attrs& a, std::vector<int>* i, std::vector<int>* o) {           \
    return infer_type_common(opname, a, i, o);                                                     \
  }                                                                                                 \
  MXReturnValue prefix##_shape(const Attrs& a, std::vector<Shape>* i, std::vector<Shape>* o) {      \
    return infer_shape_common(opname, a, i, o);                                                    \
  }                                                                                                 \
  MXReturnValue prefix##_forward(const Attrs& a, std::vector<MXTensor>* i, std::vector<MXTensor>* o, \
                                 const OpResource& r) {                                            \
    return forward_common(opname, a, i, o, r);                                                     \
  }                                                                                                 \
  MXReturnValue prefix##_backward(const Attrs& a, std::vector<MXTensor>* i, std::vector<MXTensor>* o, \
                                  const OpResource& r) {                                           \
    return backward_common(opname, a, i, o, r);                                                    \
  }                                                                                                 \
  MXReturnValue prefix##_forward_gpu(const Attrs& a, std::vector<MXTensor>* i, std::vector<MXTensor>* o, \
                                     const OpResource& r) {                                        \
    return forward_gpu_common(opname, a, i, o, r);                                                 \
  }                                                                                                 \
  MXReturnValue prefix##_backward_gpu(const Attrs& a, std::vector<MXTensor>* i, std::vector<MXTensor>* o, \
                                      const OpResource& r) {                                       \
    return backward_gpu_common(opname, a, i, o, r);                                                \
  }

DCN_CONV_ENTRY_POINTS(dconv, kDeform)
DCN_CONV_ENTRY_POINTS(mdconv, kModulated)

}  // namespace
}  // namespace dcnops

REGISTER_OP(DeformableConvolution)
    .setParseAttrs(dcnops::dconv_parse)
    .setInferType(dcnops::dconv_type)
    .setInferShape(dcnops::dconv_shape)
    .setForward(dcnops::dconv_forward, "cpu")
    .setBackward(dcnops::dconv_backward, "cpu")
    .setForward(dcnops::dconv_forward_gpu, "gpu")
    .setBackward(dcnops::dconv_backward_gpu, "gpu");

REGISTER_OP(ModulatedDeformableConvolution)
    .setParseAttrs(dcnops::mdconv_parse)
    .setInferType(dcnops::mdconv_type)
    .setInferShape(dcnops::mdconv_shape)
    .setForward(dcnops::mdconv_forward, "cpu")
    .setBackward(dcnops::mdconv_backward, "cpu")
    .setForward(dcnops::mdconv_forward_gpu, "gpu")
    .setBackward(dcnops::mdconv_backward_gpu, "gpu");
