# footprint — GNU make.  `make` builds the library and CLI; `make demo`
# answers a real query; `make test` runs every test; `make bench` measures.
# V=1 shows full command lines.

VERSION      := 0.1.0
SOVERSION    := 0
OPTIMIZATION ?= -O2
BUILD        ?= build
PREFIX       ?= /usr/local
DESTDIR      ?=
BINDIR       ?= $(PREFIX)/bin
LIBEXECDIR   ?= $(PREFIX)/libexec
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
DATAROOTDIR  ?= $(PREFIX)/share
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# Where the shared ONS mirror lives (tests, demo and benchmarks use it).
SHARED_GEODATA ?= $(abspath ../shared/geodata)

CC ?= cc
PKG_CONFIG ?= pkg-config
WARN   := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
          -Wmissing-prototypes -Wformat=2
# -ffp-contract=off: the exact predicate needs products rounded as written.
STD    := -std=c11 -D_POSIX_C_SOURCE=200809L -ffp-contract=off
# -isystem: strict warnings are for our code, not GDAL's headers.
DEPS_CFLAGS := $(patsubst -I%,-isystem %,$(shell $(PKG_CONFIG) --cflags gdal proj cairo 2>/dev/null))
DEPS_LIBS   := $(shell $(PKG_CONFIG) --libs gdal proj cairo 2>/dev/null)
FP_CFLAGS = $(STD) $(OPTIMIZATION) -g $(WARN) -fPIC -Ilib/include -Ilib/src \
            $(DEPS_CFLAGS) -MMD -MP $(CFLAGS)
FP_LDFLAGS = $(LDFLAGS)
LIBS := $(DEPS_LIBS) -lz -lm -lpthread
# What the light binary and the core may link: no GDAL, PROJ or cairo.
CORE_LIBS := -lz -lm -lpthread

ifeq ($(V),1)
QUIET_CC =
QUIET_AR =
QUIET_LINK =
QUIET_GEN =
else
QUIET_CC   = @printf '    %-5s %s\n' CC $@ 1>&2;
QUIET_AR   = @printf '    %-5s %s\n' AR $@ 1>&2;
QUIET_LINK = @printf '    %-5s %s\n' LINK $@ 1>&2;
QUIET_GEN  = @printf '    %-5s %s\n' GEN $@ 1>&2;
endif

# The point-in-footprint core: no GDAL, PROJ or cairo (checked by a test).
CORE_SRC := $(filter $(notdir $(wildcard lib/src/*.c)),ctx.c predicate.c layer.c \
            index.c locate.c csv.c catalogue.c atlas.c chain.c mapped.c \
            postcode.c batch.c pointcsv.c)
# Everything else (import, dissolve, render, export): GDAL/OGR, PROJ, cairo.
GEO_SRC  := $(filter-out $(CORE_SRC),$(notdir $(wildcard lib/src/*.c)))
LIB_OBJ  := $(addprefix $(BUILD)/obj/,$(CORE_SRC:.c=.o) $(GEO_SRC:.c=.o))
CORE_OBJ := $(addprefix $(BUILD)/obj/,$(CORE_SRC:.c=.o))

STATIC   := $(BUILD)/libfootprint.a
SHARED   := $(BUILD)/libfootprint.so.$(VERSION)
SONAME   := libfootprint.so.$(SOVERSION)
# Two executables from one source: `footprint` links only the core and
# answers queries from an atlas in milliseconds; `footprint-geo` links
# GDAL and PROJ and does what needs them (the light one hands over to it).
CLI      := $(BUILD)/footprint
CLI_GEO  := $(BUILD)/footprint-geo
# Commands: cli/footprint.c and one file per newer command (cli/cmd_*.c).
CLI_SRC  := cli/footprint.c $(sort $(wildcard cli/cmd_*.c))
CLI_CMDS := $(patsubst cli/cmd_%.c,%,$(sort $(wildcard cli/cmd_*.c)))
CLI_OBJ  := $(patsubst cli/%.c,$(BUILD)/obj/cli/light/%.o,$(CLI_SRC)) \
            $(BUILD)/obj/cli/catalogue_embed.o
CLI_GEO_OBJ := $(patsubst cli/%.c,$(BUILD)/obj/cli/geo/%.o,$(CLI_SRC)) \
            $(BUILD)/obj/cli/catalogue_embed.o
CORE_LIB := $(BUILD)/libfootprint-core.a
TESTS    := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
BENCH    := $(BUILD)/bench/bench_locate $(BUILD)/bench/bench_chain

.PHONY: all lib cli deps test-deps bench-deps demo test bench install uninstall clean data
# Keep intermediate objects (tests, generated sources) between runs.
.SECONDARY:

all: lib cli

lib: $(STATIC) $(SHARED)

cli: $(CLI) $(CLI_GEO)

$(BUILD)/obj/%.o: lib/src/%.c
	@mkdir -p $(@D)
	$(QUIET_CC)$(CC) $(FP_CFLAGS) -c $< -o $@

$(BUILD)/obj/cli/light/%.o: cli/%.c $(BUILD)/gen/config.h $(BUILD)/gen/commands.h
	@mkdir -p $(@D)
	$(QUIET_CC)$(CC) $(FP_CFLAGS) -DFP_CLI_LIGHT -Icli -I$(BUILD)/gen -c $< -o $@

$(BUILD)/obj/cli/geo/%.o: cli/%.c $(BUILD)/gen/config.h $(BUILD)/gen/commands.h
	@mkdir -p $(@D)
	$(QUIET_CC)$(CC) $(FP_CFLAGS) -Icli -I$(BUILD)/gen -c $< -o $@

# The command table: one FP_CMD(name) per cli/cmd_NAME.c.
$(BUILD)/gen/commands.h: FORCE
	@mkdir -p $(@D)
	@printf '%s\n' $(foreach c,$(CLI_CMDS),'FP_CMD($(c))') > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

# Install-time paths the CLI needs; rewritten only when they change, so a
# `make install PREFIX=...` rebuilds exactly what depends on them.
$(BUILD)/gen/config.h: FORCE
	@mkdir -p $(@D)
	@printf '#define FP_DATADIR "%s"\n#define FP_LIBEXECDIR "%s"\n' \
	    '$(DATAROOTDIR)/footprint/data' '$(LIBEXECDIR)/footprint' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

.PHONY: FORCE
FORCE:

$(BUILD)/obj/cli/catalogue_embed.o: $(BUILD)/gen/catalogue_embed.c
	@mkdir -p $(@D)
	$(QUIET_CC)$(CC) $(FP_CFLAGS) -c $< -o $@

# The catalogue (editions, membership tables, status and parent facts) is
# compiled in as one bundle, so the CLI works from the build tree and after
# install alike; --catalogue FILE overrides it.
CATALOGUE_FILES := geodata/editions.csv $(wildcard geodata/members/*.csv) \
                   $(wildcard geodata/status.csv geodata/parents.csv geodata/ods.csv)
$(BUILD)/gen/catalogue.bundle: $(CATALOGUE_FILES) scripts/bundle.sh
	@mkdir -p $(@D)
	$(QUIET_GEN)sh scripts/bundle.sh geodata > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/catalogue_embed.c: $(BUILD)/gen/catalogue.bundle scripts/embed.sh
	@mkdir -p $(@D)
	$(QUIET_GEN)sh scripts/embed.sh fp_cli_catalogue $< > $@.tmp && mv $@.tmp $@

$(STATIC): $(LIB_OBJ)
	$(QUIET_AR)rm -f $@ && $(AR) rcs $@ $^

$(SHARED): $(LIB_OBJ)
	$(QUIET_LINK)$(CC) -shared -Wl,-soname,$(SONAME) $(FP_LDFLAGS) -o $@ $^ $(LIBS)
	@ln -sf libfootprint.so.$(VERSION) $(BUILD)/$(SONAME)
	@ln -sf libfootprint.so.$(VERSION) $(BUILD)/libfootprint.so

$(CORE_LIB): $(CORE_OBJ)
	$(QUIET_AR)rm -f $@ && $(AR) rcs $@ $^

# No GDAL, no PROJ: this is what makes a one-shot query start fast.
$(CLI): $(CLI_OBJ) $(CORE_LIB)
	$(QUIET_LINK)$(CC) $(FP_LDFLAGS) -o $@ $(CLI_OBJ) $(CORE_LIB) $(CORE_LIBS)

$(CLI_GEO): $(CLI_GEO_OBJ) $(STATIC)
	$(QUIET_LINK)$(CC) $(FP_LDFLAGS) -o $@ $(CLI_GEO_OBJ) $(STATIC) $(LIBS)

$(BUILD)/obj/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	$(QUIET_CC)$(CC) $(FP_CFLAGS) -Itests $$($(PKG_CONFIG) --cflags cmocka) -c $< -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(BUILD)/obj/tests/support.o $(STATIC)
	@mkdir -p $(@D)
	$(QUIET_LINK)$(CC) $(FP_LDFLAGS) -o $@ $< $(BUILD)/obj/tests/support.o $(STATIC) $$($(PKG_CONFIG) --libs cmocka) $(LIBS)

$(BUILD)/obj/bench/%.o: bench/%.c
	@mkdir -p $(@D)
	$(QUIET_CC)$(CC) $(FP_CFLAGS) -c $< -o $@

$(BUILD)/bench/bench_locate: $(BUILD)/obj/bench/bench_locate.o $(STATIC)
	@mkdir -p $(@D)
	$(QUIET_LINK)$(CC) $(FP_LDFLAGS) -o $@ $< $(STATIC) $(LIBS) -lz

# Core only, like the query binary.
$(BUILD)/bench/bench_chain: $(BUILD)/obj/bench/bench_chain.o $(CORE_LIB)
	@mkdir -p $(@D)
	$(QUIET_LINK)$(CC) $(FP_LDFLAGS) -o $@ $< $(CORE_LIB) -lm -lpthread -lz

# Installs missing Debian packages when run as root, or prints the exact
# apt-get line and stops when not.
deps:
	@sh scripts/deps build

test-deps:
	@sh scripts/deps test

bench-deps:
	@sh scripts/deps bench

data:
	@./geodata/fetch --mirror $(SHARED_GEODATA) --dest $(BUILD)/data

# The main job, end to end on real ONS boundaries: prepare the data
# (links into the local mirror, or the official ONS downloads when there is
# none), compile the atlas, answer real queries.
DEMO_DATA := $(BUILD)/data
demo: deps
	@$(MAKE) --no-print-directory all
	@if [ -d "$(SHARED_GEODATA)/boundaries" ]; then \
	    ./geodata/fetch --mirror $(SHARED_GEODATA) --dest $(DEMO_DATA) 2>/dev/null; \
	else \
	    echo "demo: no mirror at $(SHARED_GEODATA): downloading from ONS (SHARED_GEODATA=DIR to use a mirror)" 1>&2; \
	    ./geodata/fetch --dest $(DEMO_DATA) $(foreach f,$(DEMO_FILES),--only $(f)) || exit 3; \
	fi
	@$(CLI) --data $(DEMO_DATA) build $(if $(wildcard $(SHARED_GEODATA)/boundaries),,$(foreach e,$(DEMO_EDITIONS),--edition $(e)))
	@echo '$$ footprint which --lat 53.381 --lon -1.470            # Sheffield, today'
	@$(CLI) --data $(DEMO_DATA) which --lat 53.381 --lon -1.470
	@echo '$$ footprint which --lat 53.30 --lon -1.12 --date 2019-06-01   # Worksop, 2019'
	@$(CLI) --data $(DEMO_DATA) which --lat 53.30 --lon -1.12 --date 2019-06-01
	@echo '$$ footprint timeline --lat 53.30 --lon -1.12 | cut -f1-2,5-6,9-10'
	@$(CLI) --data $(DEMO_DATA) timeline --lat 53.30 --lon -1.12 > $(BUILD)/timeline.tsv
	@cut -f1-2,5-6,9-10 $(BUILD)/timeline.tsv
	@echo '$$ footprint which --easting 435000 --northing 387000 --edition stp2017'
	@$(CLI) --data $(DEMO_DATA) which --easting 435000 --northing 387000 --edition stp2017

DEMO_EDITIONS := icb2026 icb2023 icb2022 stp2021 stp2017 ccg2021 nhser2024 lad2024 icp ics2018
DEMO_FILES := boundaries/icb_2026_bsc.geojson boundaries/icb_2023_bsc.geojson \
    boundaries/icb_2022_buc.geojson boundaries/stp_2021_buc.geojson \
    boundaries/stp_2017_buc.geojson boundaries/ccg_2021_buc.geojson \
    boundaries/nhser_2024_bsc.geojson boundaries/lad_2024_bsc.geojson

test: test-deps
	@$(MAKE) --no-print-directory all tests
	@sh tests/run.sh $(BUILD) $(SHARED_GEODATA)

.PHONY: tests
tests: $(TESTS)

bench: bench-deps
	@$(MAKE) --no-print-directory all $(BENCH)
	@sh bench/run.sh $(BUILD) $(SHARED_GEODATA)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(LIBEXECDIR)/footprint \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(DATAROOTDIR)/footprint
	install -m 755 $(CLI) $(DESTDIR)$(BINDIR)/footprint
	install -m 755 $(CLI_GEO) $(DESTDIR)$(LIBEXECDIR)/footprint/footprint-geo
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/libfootprint.a
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/libfootprint.so.$(VERSION)
	ln -sf libfootprint.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf libfootprint.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libfootprint.so
	install -m 644 lib/include/*.h $(DESTDIR)$(INCLUDEDIR)/
	install -d $(DESTDIR)$(DATAROOTDIR)/footprint/members
	install -m 644 geodata/editions.csv geodata/sources.csv geodata/README.md \
	    geodata/status.csv geodata/parents.csv geodata/ods.csv $(DESTDIR)$(DATAROOTDIR)/footprint/
	install -m 644 geodata/members/*.csv $(DESTDIR)$(DATAROOTDIR)/footprint/members/
	install -m 755 geodata/fetch $(DESTDIR)$(DATAROOTDIR)/footprint/fetch
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    footprint.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/footprint.pc

uninstall:
	rm -rf $(DESTDIR)$(LIBEXECDIR)/footprint
	rm -f $(DESTDIR)$(BINDIR)/footprint $(DESTDIR)$(LIBDIR)/libfootprint.* \
	    $(DESTDIR)$(INCLUDEDIR)/footprint.h $(DESTDIR)$(INCLUDEDIR)/footprint_*.h \
	    $(DESTDIR)$(PKGCONFIGDIR)/footprint.pc
	rm -rf $(DESTDIR)$(DATAROOTDIR)/footprint

clean:
	rm -rf $(BUILD)

# Rules of one subject each (web map assets, examples, accuracy report).
include $(sort $(wildcard mk/*.mk))

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/obj/*/*.d $(BUILD)/obj/*/*/*.d)
