# tests/bench: the accuracy harness scores whole windows of real text
# (ctest -LE slow leaves it out, as CI's sanitizer pass does).
set(TEST_OPTIONS_accuracy TIMEOUT 900 LABELS slow)
