# selsa — build. `make help` lists the targets.
#
#   make            libselsa.a, libselsa.so and the selsa tool (build/)
#   make test       install dependencies if needed, build, generate reference fixtures, run all tests
#   make asan       the same tests under AddressSanitizer + UBSan (build-asan/)
#   make fuzz       fuzz the weight-file and JSON readers, FUZZ_SECONDS each (default 20), ASan+UBSan
#   make bench      operator benchmarks (bench/), see docs/BENCHMARKS.md
#   make bench-official / make test-full   full-size R101 benchmark / parity vs PyTorch (slow)
#   make demo       the main job on built-in defaults
#
# Variables: ARCH (default x86-64-v3), OPT, BUILD, SANITIZE=1, PYTHON, THREADS.

CC      ?= gcc
PYTHON  ?= /usr/bin/python3
ARCH    ?= x86-64-v3
BUILD   ?= build
PREFIX  ?= /usr/local

BLAS_DIR := /usr/lib/x86_64-linux-gnu/openblas-openmp
BLAS_INC := /usr/include/x86_64-linux-gnu/openblas-openmp

ifeq ($(SANITIZE),1)
  OPT      ?= -O1 -g -fno-omit-frame-pointer
  SAN      := -fsanitize=address,undefined -fno-sanitize-recover=undefined
else
  OPT      ?= -O3 -g
  SAN      :=
endif

CPPFLAGS := -Iinclude -Isrc -I$(BLAS_INC) -D_GNU_SOURCE
CFLAGS   := -std=c11 -march=$(ARCH) $(OPT) -fPIC -fopenmp -Wall -Wextra -Werror \
            -Wno-unused-parameter $(SAN) $(EXTRA_CFLAGS)
LDFLAGS  := -fopenmp $(SAN) -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR)
# OpenBLAS is linked by name, from the OpenMP build, never the reference BLAS.
LDLIBS   := -lopenblas -lavformat -lavcodec -lswscale -lavutil -lpng -ljpeg -lexpat -lyaml -lz -lm -lpthread

LIB_SRC  := $(sort $(wildcard src/core/*.c src/ops/*.c src/backend/cpu/*.c src/model/*.c \
                              src/io/*.c src/data/*.c src/train/*.c src/eval/*.c))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_SUPPORT := tests/harness.c tests/fixture.c tests/train_support.c
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
EXAMPLE_BIN := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_SUPPORT_OBJ := $(TEST_SUPPORT:%.c=$(BUILD)/obj/%.o)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
FIXTURES := $(BUILD)/fixtures/.stamp
REF_PY   := $(sort $(wildcard tests/ref/*.py))

.SECONDARY:

.PHONY: all lib cli tests test check asan fuzz bench bench-official test-full demo deps fixtures clean help install examples

all: lib cli

lib: $(BUILD)/libselsa.a $(BUILD)/libselsa.so
cli: $(BUILD)/selsa

ifeq ($(V),1)
  Q :=
else
  Q := @
endif

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libselsa.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libselsa.so: $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/selsa: $(CLI_OBJ) $(BUILD)/libselsa.a
	$(CC) -o $@ $(CLI_OBJ) $(BUILD)/libselsa.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_SUPPORT_OBJ) $(BUILD)/libselsa.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(TEST_SUPPORT_OBJ) $(BUILD)/libselsa.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/libselsa.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(BUILD)/libselsa.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(BUILD)/libselsa.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(BUILD)/libselsa.a $(LDFLAGS) $(LDLIBS)

examples: $(EXAMPLE_BIN)

tests: $(TEST_BIN) $(BUILD)/selsa $(EXAMPLE_BIN)

# Reference fixtures are regenerated from the PyTorch/NumPy scripts (never committed).
$(FIXTURES): $(REF_PY)
	@mkdir -p $(BUILD)/fixtures
	@for s in $(REF_PY); do case $$s in */_*) continue;; esac; \
	  echo "  REF $$s"; $(PYTHON) $$s $(BUILD)/fixtures || exit 1; done
	@touch $@

fixtures: $(FIXTURES)

deps:
	bash scripts/install-deps.sh

# The README's test command: set up, build, run everything, summary line, non-zero on failure.
test: deps
	$(MAKE) check

check: tests $(FIXTURES)
	bash tests/run_tests.sh $(BUILD)

asan:
	$(MAKE) check BUILD=build-asan SANITIZE=1

# Fuzz the weight-file readers (.params, .pth) for FUZZ_SECONDS under ASan+UBSan, seeded with the
# reference fixtures. A crash writes the input to fuzz_weights-crash.bin and fails.
FUZZ_SECONDS ?= 20
FUZZ_SRC := tests/fuzz/fuzz_weights.c src/io/weights.c src/io/params.c src/io/pth.c src/io/pickle.c src/core/fileio.c \
            src/core/status.c
FUZZ_JSON_SRC := tests/fuzz/fuzz_json.c src/io/json.c src/io/detections_json.c src/eval/classes.c \
            src/eval/vid_eval.c src/eval/motion_iou.c src/io/matv5.c src/core/fileio.c src/core/status.c
FUZZ_CFLAGS := -std=c11 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	  -fno-sanitize-recover=undefined -Wall -Wextra -Werror -Wno-unused-parameter \
	  -Wno-unknown-pragmas -Iinclude -Isrc -D_GNU_SOURCE
fuzz: $(FIXTURES)
	@mkdir -p $(BUILD)
	$(CC) $(FUZZ_CFLAGS) $(FUZZ_SRC) -o $(BUILD)/fuzz_weights
	$(CC) $(FUZZ_CFLAGS) $(FUZZ_JSON_SRC) -lz -lm -lpthread -o $(BUILD)/fuzz_json
	$(BUILD)/fuzz_weights -q -t $(FUZZ_SECONDS) $(BUILD)/fixtures
	$(BUILD)/fuzz_json -q -t $(FUZZ_SECONDS) -s 1

bench: $(BENCH_BIN)
	bash bench/run_bench.sh $(BUILD)

# Full-size official SELSA R101 benchmark against the PyTorch reference (about 12 min) and the
# slow full-size parity test (about 4 min); neither is part of `make test`.
bench-official: $(BUILD)/bench/bench_official
	bash bench/run_official.sh $(BUILD)

test-full: $(BUILD)/bench/bench_official
	bash tests/full/run_official_full.sh $(BUILD)

demo: deps
	$(MAKE) all
	bash scripts/demo.sh $(BUILD)

# Installs the library, headers, the tool and a pkg-config file (selsa.pc).
install: all
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/selsa $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(BUILD)/libselsa.a $(BUILD)/libselsa.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/selsa/*.h $(DESTDIR)$(PREFIX)/include/selsa/
	install -m 755 $(BUILD)/selsa $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n 's/.*SELSA_VERSION_STRING "\(.*\)"/\1/p' include/selsa/selsa.h)|' \
	  -e 's|@BLAS_DIR@|$(BLAS_DIR)|g' -e 's|@LIBS@|$(LDLIBS)|' scripts/selsa.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/selsa.pc

clean:
	rm -rf build build-asan

help:
	@sed -n '1,12p' Makefile

-include $(EXAMPLE_BIN:$(BUILD)/examples/%=$(BUILD)/obj/examples/%.d)
-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_BIN:$(BUILD)/tests/%=$(BUILD)/obj/tests/%.d)
-include $(TEST_SUPPORT_OBJ:.o=.d) $(BENCH_BIN:$(BUILD)/bench/%=$(BUILD)/obj/bench/%.d)
