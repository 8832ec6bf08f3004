# Web maps (`footprint leaflet`): the page (web/) and Leaflet 1.9.4 from
# the npm registry, vendored into $(BUILD)/web at build time and never
# committed.  $(BUILD)/web is what the command copies into a map folder
# (found beside footprint-geo in the build tree); `make install` installs
# it as share/footprint/web.

LEAFLET_VERSION   := 1.9.4
# dist.integrity of leaflet@1.9.4 as the registry publishes it: the
# tarball is checked against it, whatever npm's cache holds.
LEAFLET_INTEGRITY := sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA==
WEB_DIR       := $(BUILD)/web
WEB_FILES     := $(addprefix $(WEB_DIR)/,index.html footprint.js footprint.css)
LEAFLET_STAMP := $(WEB_DIR)/leaflet/.leaflet-$(LEAFLET_VERSION)
WEB_INSTALL   := $(DESTDIR)$(DATAROOTDIR)/footprint/web

.PHONY: web install-web
web: $(WEB_FILES) $(LEAFLET_STAMP)
all: web
tests: web
install: install-web

$(WEB_DIR)/%: web/%
	@mkdir -p $(@D)
	$(QUIET_GEN)cp $< $@.tmp && mv $@.tmp $@

# npm pack fetches the published tarball (or takes it from npm's cache);
# only the browser build (leaflet.js, leaflet.css, images) and the licence
# go into the map folder.
$(LEAFLET_STAMP): mk/web.mk
	@command -v npm >/dev/null 2>&1 || { \
	    echo "web: npm is needed to vendor Leaflet $(LEAFLET_VERSION) ('make deps' installs it)" >&2; \
	    exit 1; }
	@rm -rf $(BUILD)/npm-leaflet && mkdir -p $(BUILD)/npm-leaflet
	$(QUIET_GEN)cd $(BUILD)/npm-leaflet && \
	    npm pack --silent --prefer-offline leaflet@$(LEAFLET_VERSION) > tarball 2> npm.log || { \
	        echo "web: npm pack leaflet@$(LEAFLET_VERSION) failed (is the npm registry reachable?):" >&2; \
	        tail -3 npm.log >&2; exit 1; }
	@cd $(BUILD)/npm-leaflet && \
	    got=$$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$$(tail -1 tarball)") && \
	    if [ "$$got" != "$(LEAFLET_INTEGRITY)" ]; then \
	        echo "web: $$(tail -1 tarball): integrity $$got, expected $(LEAFLET_INTEGRITY)" >&2; exit 1; fi && \
	    tar -xzf "$$(tail -1 tarball)"
	@rm -rf $(WEB_DIR)/leaflet.tmp && mkdir -p $(WEB_DIR)/leaflet.tmp/images
	@cp $(BUILD)/npm-leaflet/package/dist/leaflet.js $(BUILD)/npm-leaflet/package/dist/leaflet.css \
	    $(BUILD)/npm-leaflet/package/LICENSE $(WEB_DIR)/leaflet.tmp/
	@cp $(BUILD)/npm-leaflet/package/dist/images/*.png $(WEB_DIR)/leaflet.tmp/images/
	@touch $(WEB_DIR)/leaflet.tmp/.leaflet-$(LEAFLET_VERSION)
	@rm -rf $(WEB_DIR)/leaflet && mv $(WEB_DIR)/leaflet.tmp $(WEB_DIR)/leaflet
	@rm -rf $(BUILD)/npm-leaflet

install-web: web
	install -d $(WEB_INSTALL)/leaflet/images
	install -m 644 $(WEB_FILES) $(WEB_INSTALL)/
	install -m 644 $(WEB_DIR)/leaflet/leaflet.js $(WEB_DIR)/leaflet/leaflet.css \
	    $(WEB_DIR)/leaflet/LICENSE $(WEB_INSTALL)/leaflet/
	install -m 644 $(WEB_DIR)/leaflet/images/*.png $(WEB_INSTALL)/leaflet/images/
