# tests/llm: the secure engine's test runs two parties and the dealer over a
# few dozen tokens of stories260K; under the sanitizers it checks fewer.
set(TEST_OPTIONS_xfwd TIMEOUT 900)
# MPCache and H2O in MPC against the plain engine: five secure runs of
# stories260K and one of the stories15M shape.
set(TEST_OPTIONS_xmpcache TIMEOUT 1800) # 650 s under the sanitizers on a loaded 2-core machine
