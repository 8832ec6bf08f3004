# `make accuracy`: footprint locate over the NSPL sample against the codes
# ONS assigned, per level (scripts/accuracy.sh); the table goes to stdout
# and $(BUILD)/accuracy.md.
ACC_DATA := $(BUILD)/data
.PHONY: accuracy
accuracy: all
	@./geodata/fetch --mirror $(SHARED_GEODATA) --dest $(ACC_DATA) > /dev/null 2>&1 || \
	    { echo "accuracy: no ONS mirror at $(SHARED_GEODATA) (SHARED_GEODATA=DIR)" 1>&2; exit 3; }
	@[ -f $(ACC_DATA)/footprint.atlas ] && \
	    $(CLI) --data $(ACC_DATA) list --edition icb2022lsoa > /dev/null 2>&1 || \
	    $(CLI) --data $(ACC_DATA) build
	@sh scripts/accuracy.sh $(CLI) $(ACC_DATA) \
	    $(SHARED_GEODATA)/postcodes/postcodes_nspl_nov2021.csv | tee $(BUILD)/accuracy.md
