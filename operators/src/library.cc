// Library entry point required by mx.library.load().
#include "mxnet/lib_api.h"

using namespace mxnet::ext;

MXReturnValue initialize(int version) {
  if (version >= 10900) return MX_SUCCESS;
  MX_ERROR_MSG << "dcn operators: built for MXNet 1.9, this MXNet reports version " << version;
  return MX_FAIL;
}
