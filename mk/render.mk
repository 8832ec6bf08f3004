# Maps: `make maps` draws the README's example maps (examples/maps/*.sh,
# one command each) into docs/img from the shared ONS mirror, through a
# data directory and atlas under $(BUILD); `make examples` includes it.
MAP_SCRIPTS := $(sort $(wildcard examples/maps/*.sh))
MAP_DATA    := $(BUILD)/data
MAP_OUT     ?= docs/img

.PHONY: maps examples
examples: maps

maps: all
	@./geodata/fetch --mirror $(SHARED_GEODATA) --dest $(MAP_DATA) > /dev/null 2>&1 || \
	    { echo "maps: no ONS mirror at $(SHARED_GEODATA) (SHARED_GEODATA=DIR)" 1>&2; exit 3; }
	@# An atlas that is missing or stale is rebuilt (a query on it says so).
	@[ -f $(MAP_DATA)/footprint.atlas ] && \
	    $(CLI) --data $(MAP_DATA) list --edition icb2026 > /dev/null 2>&1 || \
	    $(CLI) --data $(MAP_DATA) build
	@for s in $(MAP_SCRIPTS); do \
	    printf '    %-5s %s\n' MAP $$s 1>&2; \
	    FOOTPRINT=$(CLI) FOOTPRINT_DATA=$(MAP_DATA) OUT=$(MAP_OUT) sh $$s || exit 1; \
	done
