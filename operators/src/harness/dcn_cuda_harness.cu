// Standalone C entry points into the CUDA kernels, for tests and benchmarks
// without mxnet-cu112 (loaded with ctypes by operators/cuda_harness.py).
// Memory comes from the dcn_h_malloc/copy helpers below (same static cudart as
// the kernels) or from any CUDA allocator of the same process (e.g. CuPy).
// Every function returns 0 or a cudaError_t code (dcn_h_error_string names it).
// The plain entry points run on the default stream, allocate their workspace
// and synchronise before returning; the *_async ones take a workspace of at
// least *_workspace bytes and a stream (e.g. from PyTorch: benchmarks) and
// only enqueue work.
#include <cstdint>

#include "../common/cuda_utils.cuh"
#include "../deform_conv/deform_conv_cuda.h"
#include "../psroi/psroi_cuda.h"

using namespace dcnops;

namespace {

// geom: N, C, H, W, F, kh, kw, sh, sw, dh, dw, ph, pw, groups, dgroups (15 values)
bool make_conv_geom(const int64_t* v, int rule, int64_t budget_bytes, DeformConvGeom* g) {
  g->N = v[0]; g->C = v[1]; g->H = v[2]; g->W = v[3]; g->F = v[4];
  g->kh = v[5]; g->kw = v[6]; g->sh = v[7]; g->sw = v[8]; g->dh = v[9]; g->dw = v[10];
  g->ph = v[11]; g->pw = v[12]; g->groups = v[13]; g->dgroups = v[14];
  g->rule = rule ? BorderRule::kDCNv2 : BorderRule::kDCNv1;
  g->col_budget_bytes = budget_bytes > 0 ? budget_bytes : (int64_t(512) << 20);
  const int64_t ekh = g->dh * (g->kh - 1) + 1, ekw = g->dw * (g->kw - 1) + 1;
  if (g->N < 0 || g->C < 1 || g->H < 1 || g->W < 1 || g->F < 1 || g->groups < 1 || g->dgroups < 1 ||
      g->C % g->groups || g->F % g->groups || g->C % g->dgroups || ekh > g->H + 2 * g->ph || ekw > g->W + 2 * g->pw)
    return false;
  g->Ho = (g->H + 2 * g->ph - ekh) / g->sh + 1;
  g->Wo = (g->W + 2 * g->pw - ekw) / g->sw + 1;
  return true;
}

// geom: N, C, H, W, R, output_dim, group, pooled, part, spp, num_classes, no_trans (12 values)
bool make_psroi_geom(const int64_t* v, float spatial_scale, float trans_std, PSROIGeom* g) {
  g->N = v[0]; g->C = v[1]; g->H = v[2]; g->W = v[3]; g->R = v[4];
  g->output_dim = v[5]; g->group = v[6]; g->pooled = v[7]; g->part = v[8]; g->spp = v[9];
  g->num_classes = v[10]; g->no_trans = v[11] != 0;
  g->spatial_scale = spatial_scale;
  g->trans_std = trans_std;
  return g->N >= 1 && g->C == g->output_dim * g->group * g->group && g->num_classes >= 1 &&
         g->output_dim % g->num_classes == 0;
}

int with_workspace(size_t bytes, void** ws) {
  *ws = nullptr;
  return bytes ? int(cudaMalloc(ws, bytes)) : 0;
}

int finish(int err, void* ws) {
  if (err == 0) err = int(cudaDeviceSynchronize());
  if (ws) cudaFree(ws);
  return err;
}

}  // namespace

extern "C" {

// 1 when built against the CPU emulation of the CUDA runtime (src/emu), 0 for real CUDA.
int dcn_h_is_emulation() {
#ifdef DCN_CUDA_EMULATION
  return 1;
#else
  return 0;
#endif
}

const char* dcn_h_error_string(int code) { return cudaGetErrorString(static_cast<cudaError_t>(code)); }
int dcn_h_device_count(int* n) { return gpu::cuda_device_count(n); }
int dcn_h_malloc(void** p, size_t bytes) { return int(cudaMalloc(p, bytes ? bytes : 1)); }
int dcn_h_free(void* p) { return int(cudaFree(p)); }
int dcn_h_h2d(void* dst, const void* src, size_t bytes) { return int(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice)); }
int dcn_h_d2h(void* dst, const void* src, size_t bytes) { return int(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost)); }
int dcn_h_synchronize() { return int(cudaDeviceSynchronize()); }
// Which GEMM the deformable convolution runs: "cuBLAS (libcublas.so.N)" or "built-in GEMM (why)".
const char* dcn_h_gemm_backend() { return gpu::gemm_backend(); }

// Output size of a convolution geometry: out[0] = Ho, out[1] = Wo; -1 if invalid.
int dcn_h_conv_out_size(const int64_t* geom, int64_t* out) {
  DeformConvGeom g;
  if (!make_conv_geom(geom, 0, 0, &g)) return int(cudaErrorInvalidValue);
  out[0] = g.Ho;
  out[1] = g.Wo;
  return 0;
}

// rule: 0 = dcnv1, 1 = dcnv2; dtype: 0 f32, 1 f64, 2 f16; mask/bias may be null.
// budget_bytes: column budget (<= 0: 512 MiB, as the op); small values force chunking.
int dcn_h_deform_conv_forward(const int64_t* geom, int rule, int dtype, int64_t budget_bytes, const void* x,
                              const void* offset, const void* mask, const void* weight, const void* bias,
                              void* out) {
  DeformConvGeom g;
  if (!make_conv_geom(geom, rule, budget_bytes, &g)) return int(cudaErrorInvalidValue);
  void* ws;
  int err = with_workspace(gpu::deform_conv_workspace_bytes(g, dtype, false, false), &ws);
  if (err) return err;
  return finish(gpu::deform_conv_forward(g, dtype, x, offset, mask, weight, bias, out, ws, nullptr), ws);
}

int dcn_h_deform_conv_backward(const int64_t* geom, int rule, int dtype, int64_t budget_bytes, int deterministic,
                               const void* dout, const void* x, const void* offset, const void* mask,
                               const void* weight, void* dx, void* doffset, void* dmask, void* dweight,
                               void* dbias) {
  DeformConvGeom g;
  if (!make_conv_geom(geom, rule, budget_bytes, &g)) return int(cudaErrorInvalidValue);
  void* ws;
  int err = with_workspace(gpu::deform_conv_workspace_bytes(g, dtype, true, deterministic != 0), &ws);
  if (err) return err;
  return finish(gpu::deform_conv_backward(g, dtype, deterministic != 0, dout, x, offset, mask, weight, dx, doffset,
                                          dmask, dweight, dbias, ws, nullptr),
                ws);
}

// RoIs must be valid (finite, batch index in [0, N), x2 >= x1, y2 >= y1): the
// MXNet op checks them; the kernels only clamp the batch index.
int dcn_h_psroi_forward(const int64_t* geom, float spatial_scale, float trans_std, int dtype, const void* data,
                        const void* rois, const void* trans, void* out) {
  PSROIGeom g;
  if (!make_psroi_geom(geom, spatial_scale, trans_std, &g)) return int(cudaErrorInvalidValue);
  void* ws;
  int err = with_workspace(gpu::psroi_workspace_bytes(g, dtype, false, false), &ws);
  if (err) return err;
  return finish(gpu::psroi_forward(g, dtype, data, rois, trans, out, ws, nullptr), ws);
}

int dcn_h_psroi_backward(const int64_t* geom, float spatial_scale, float trans_std, int dtype, int deterministic,
                         const void* dout, const void* data, const void* rois, const void* trans, void* ddata,
                         void* dtrans) {
  PSROIGeom g;
  if (!make_psroi_geom(geom, spatial_scale, trans_std, &g)) return int(cudaErrorInvalidValue);
  void* ws;
  int err = with_workspace(gpu::psroi_workspace_bytes(g, dtype, true, deterministic != 0), &ws);
  if (err) return err;
  return finish(gpu::psroi_backward(g, dtype, deterministic != 0, dout, data, rois, trans, ddata, dtrans, ws, nullptr),
                ws);
}

// Workspace bytes for the *_async calls, -1 for an invalid geometry.
int64_t dcn_h_deform_conv_workspace(const int64_t* geom, int rule, int dtype, int64_t budget_bytes, int backward,
                                    int deterministic) {
  DeformConvGeom g;
  if (!make_conv_geom(geom, rule, budget_bytes, &g)) return -1;
  return int64_t(gpu::deform_conv_workspace_bytes(g, dtype, backward != 0, deterministic != 0));
}

int dcn_h_deform_conv_forward_async(const int64_t* geom, int rule, int dtype, int64_t budget_bytes, const void* x,
                                    const void* offset, const void* mask, const void* weight, const void* bias,
                                    void* out, void* workspace, void* stream) {
  DeformConvGeom g;
  if (!make_conv_geom(geom, rule, budget_bytes, &g)) return int(cudaErrorInvalidValue);
  return gpu::deform_conv_forward(g, dtype, x, offset, mask, weight, bias, out, workspace, stream);
}

int dcn_h_deform_conv_backward_async(const int64_t* geom, int rule, int dtype, int64_t budget_bytes,
                                     int deterministic, const void* dout, const void* x, const void* offset,
                                     const void* mask, const void* weight, void* dx, void* doffset, void* dmask,
                                     void* dweight, void* dbias, void* workspace, void* stream) {
  DeformConvGeom g;
  if (!make_conv_geom(geom, rule, budget_bytes, &g)) return int(cudaErrorInvalidValue);
  return gpu::deform_conv_backward(g, dtype, deterministic != 0, dout, x, offset, mask, weight, dx, doffset, dmask,
                                   dweight, dbias, workspace, stream);
}

int64_t dcn_h_psroi_workspace(const int64_t* geom, float spatial_scale, float trans_std, int dtype, int backward,
                              int deterministic) {
  PSROIGeom g;
  if (!make_psroi_geom(geom, spatial_scale, trans_std, &g)) return -1;
  return int64_t(gpu::psroi_workspace_bytes(g, dtype, backward != 0, deterministic != 0));
}

int dcn_h_psroi_forward_async(const int64_t* geom, float spatial_scale, float trans_std, int dtype, const void* data,
                              const void* rois, const void* trans, void* out, void* workspace, void* stream) {
  PSROIGeom g;
  if (!make_psroi_geom(geom, spatial_scale, trans_std, &g)) return int(cudaErrorInvalidValue);
  return gpu::psroi_forward(g, dtype, data, rois, trans, out, workspace, stream);
}

int dcn_h_psroi_backward_async(const int64_t* geom, float spatial_scale, float trans_std, int dtype,
                               int deterministic, const void* dout, const void* data, const void* rois,
                               const void* trans, void* ddata, void* dtrans, void* workspace, void* stream) {
  PSROIGeom g;
  if (!make_psroi_geom(geom, spatial_scale, trans_std, &g)) return int(cudaErrorInvalidValue);
  return gpu::psroi_backward(g, dtype, deterministic != 0, dout, data, rois, trans, ddata, dtrans, workspace, stream);
}

}  // extern "C"
