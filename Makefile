# tinytrain: `make` builds tests and examples, `make test` runs the tests,
# `make demo` trains a small classifier, `make bench` runs the benchmarks.
CC      ?= cc
OPT     ?= -O2
WARN    := -std=c99 -Wall -Wextra -Wpedantic -Werror
CFLAGS  ?=
LDLIBS  := -lm -lpthread
BUILD   ?= build

ifeq ($(SAN),1)
  BUILD   := build-san
  OPT     := -O1 -g -fno-omit-frame-pointer
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
endif

TEST_SRC    := $(wildcard tests/test_*.c)
TEST_BIN    := $(patsubst tests/%.c,$(BUILD)/%,$(TEST_SRC))
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLE_BIN := $(patsubst examples/%.c,$(BUILD)/%,$(EXAMPLE_SRC))

.PHONY: all test demo bench clean
all: $(TEST_BIN) $(EXAMPLE_BIN)

$(BUILD):
	mkdir -p $(BUILD)

$(BUILD)/test_%: tests/test_%.c tinytrain.h tests/test.h | $(BUILD)
	$(CC) $(WARN) $(OPT) $(SANFLAGS) $(CFLAGS) -I. -o $@ $< $(LDLIBS)

$(BUILD)/%: examples/%.c tinytrain.h | $(BUILD)
	$(CC) $(WARN) $(OPT) $(SANFLAGS) $(CFLAGS) -I. -o $@ $< $(LDLIBS)

test: $(TEST_BIN)
	@bash tests/summary.sh $(TEST_BIN)

demo: $(BUILD)/demo
	./$(BUILD)/demo

clean:
	rm -rf build build-san

# ---- matmul benchmarks and cross-checks (bench, test-neon) ----
bench:
	@echo "no benchmarks yet"
test-neon:
	@echo "SKIP neon: not built yet"
