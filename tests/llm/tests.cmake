# tests/llm: the secure engine's test runs two parties and the dealer over a
# few dozen tokens of stories260K; under the sanitizers it checks fewer.
set(TEST_OPTIONS_xfwd TIMEOUT 900)
