# tests/kernels: the CUDA kernels' tests carry the label gpu (ctest -L gpu).
# They exit 77 (skipped) without a device or without CUDA in the build.
set(TEST_OPTIONS_cuda_ring LABELS gpu)
set(TEST_OPTIONS_cuda_elem LABELS gpu)
set(TEST_OPTIONS_cuda_fss LABELS gpu)
set(TEST_OPTIONS_cuda_prg LABELS gpu)
