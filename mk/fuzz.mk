# `make fuzz`: libFuzzer targets for every parser footprint owns
# (fuzz/fuzz_*.c: catalogue and membership files, the compiled atlas, the
# postcode index and normalisation, the point CSV reader, the postcode
# importer), built with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer, each run FUZZ_SECONDS (FUZZ_JOBS at a time)
# from seeds made of the real files, then a summary.  The corpus grows in
# $(BUILD)/fuzz/corpus between runs; findings go to $(BUILD)/fuzz/crashes.
# The core targets link only the core library; the geo ones (FUZZ_GEO:
# the importer reads British National Grid through PROJ) the whole of it,
# GDAL, PROJ and cairo uninstrumented.  The seeds tool (an ordinary
# program on the ordinary library) makes the inputs.

FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 2
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_TARGETS := $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer
FUZZ_GEO     := fuzz_import
FUZZ_CFLAGS  := -std=c11 -D_POSIX_C_SOURCE=200809L -ffp-contract=off -O1 -g \
                $(FUZZ_SAN) -Ilib/include -Ilib/src $(DEPS_CFLAGS) -MMD -MP
FUZZ_OBJ     := $(addprefix $(FUZZ_DIR)/obj/,$(CORE_SRC:.c=.o))
FUZZ_GEO_OBJ := $(addprefix $(FUZZ_DIR)/obj/,$(GEO_SRC:.c=.o))
FUZZ_BINS    := $(addprefix $(FUZZ_DIR)/bin/,$(FUZZ_TARGETS))

.PHONY: fuzz fuzz-build fuzz-deps

# clang (libFuzzer ships with it) is needed only here.
fuzz-deps:
	@sh scripts/deps fuzz

fuzz-build: fuzz-deps
	@$(MAKE) --no-print-directory $(FUZZ_BINS) $(FUZZ_DIR)/seeds-tool

fuzz: deps fuzz-build
	@echo "fuzz: making seeds from $(SHARED_GEODATA)" >&2
	@sh fuzz/seeds.sh $(FUZZ_DIR)/seeds-tool $(SHARED_GEODATA) $(FUZZ_DIR)/seeds >&2
	@sh fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_JOBS) $(FUZZ_TARGETS)

$(FUZZ_DIR)/obj/%.o: lib/src/%.c
	@mkdir -p $(@D)
	$(QUIET_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/bin/%: fuzz/%.c $(FUZZ_OBJ)
	@mkdir -p $(@D)
	$(QUIET_LINK)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(CORE_LIBS)

$(addprefix $(FUZZ_DIR)/bin/,$(FUZZ_GEO)): $(FUZZ_DIR)/bin/%: fuzz/%.c $(FUZZ_OBJ) $(FUZZ_GEO_OBJ)
	@mkdir -p $(@D)
	$(QUIET_LINK)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(FUZZ_GEO_OBJ) $(LIBS)

# The seeds tool is an ordinary program on the ordinary library.
$(FUZZ_DIR)/seeds-tool: fuzz/seeds.c $(STATIC)
	@mkdir -p $(@D)
	$(QUIET_LINK)$(CC) $(FP_CFLAGS) -o $@ $< $(STATIC) $(LIBS)

-include $(wildcard $(FUZZ_DIR)/obj/*.d $(FUZZ_DIR)/bin/*.d)
