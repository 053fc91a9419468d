# tests/protocols: the protocols with a CUDA device context carry the label
# gpu (ctest -L gpu); they exit 77 (skipped) without a device or without CUDA
# in the build.
set(TEST_OPTIONS_cuda_dispatch LABELS gpu)
