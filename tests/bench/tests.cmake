# tests/bench: the accuracy harness scores whole windows of real text
# (ctest -LE slow leaves it out, as CI's sanitizer pass does).
set(TEST_OPTIONS_accuracy TIMEOUT 900 LABELS slow)
# The secure engine's slice runs the three roles over a short prompt: fast
# enough for every pass, slow under the sanitizers.
set(TEST_OPTIONS_acc_secure TIMEOUT 1800) # 435 s under the sanitizers beside other work
