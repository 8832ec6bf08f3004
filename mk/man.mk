# The manual page, made from the program's --help texts (scripts/man.sh).
MANDIR ?= $(DATAROOTDIR)/man
MANPAGE := $(BUILD)/footprint.1

all: $(MANPAGE)

$(MANPAGE): $(CLI) $(CLI_GEO) scripts/man.sh
	$(QUIET_GEN)sh scripts/man.sh $(CLI) $(VERSION) > $@.tmp && mv $@.tmp $@

install: install-man
.PHONY: install-man
install-man: $(MANPAGE)
	install -d $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(MANPAGE) $(DESTDIR)$(MANDIR)/man1/footprint.1
