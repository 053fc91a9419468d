# tests/parties: the generation tests run the real programs on stories260K,
# some for 128 secure steps (about 0.3-0.5 s each on two cores), with
# several processes sharing the machine: they take minutes (ctest -LE slow
# leaves them out).
set(TEST_OPTIONS_generate TIMEOUT 1500 LABELS slow)
# test_policy: three secure generations of 128 steps (about a minute each).
set(TEST_OPTIONS_policy TIMEOUT 1500 LABELS slow)
# test_service: generations on stories260K that are drained, cut or logged
# (about a minute).
set(TEST_OPTIONS_service TIMEOUT 900 LABELS slow)
# test_faults: 18 generations on stories260K, each cut by a kill or a stall
# of one role, then a new session (several minutes).
set(TEST_OPTIONS_faults TIMEOUT 1800 LABELS slow)
