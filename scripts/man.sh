#!/bin/sh
# man.sh FOOTPRINT VERSION: footprint.1 on stdout, made from the program's
# own --help texts, so the manual cannot drift from the command.
set -eu
fp=$1 version=$2
# Roff-safe: backslashes doubled, a leading dot or quote escaped.
esc() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }
cat <<END
.TH FOOTPRINT 1 "" "footprint $version" "User Commands"
.SH NAME
footprint \\- NHS England health geography: which ICB, STP, ICP or other NHS footprint covers a point
.SH SYNOPSIS
.B footprint
[\\fB\\-\\-data\\fR \\fIDIR\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR]
.SH DESCRIPTION
.nf
END
"$fp" --help | esc
echo ".fi"
echo ".SH COMMANDS"
# The commands the program lists: "  name   summary" lines under "Commands:".
"$fp" --help | awk '/^Commands:/ {on = 1; next} /^[^ ]/ {on = 0} on && /^  [a-z]/ {print $1}' |
while read -r cmd; do
    [ "$cmd" = help ] && continue
    echo ".SS $cmd"
    echo ".nf"
    "$fp" help "$cmd" | esc
    echo ".fi"
done
cat <<'END'
.SH EXIT STATUS
0 found or done, 1 no footprint, 2 usage error, 3 data or I/O error.
.SH ENVIRONMENT
.TP
.B FOOTPRINT_DATA
the data directory (boundary files, lookups, footprint.atlas)
.TP
.B FOOTPRINT_CATALOGUE
an editions catalogue to use instead of the built-in one
.SH COPYRIGHT
Boundaries: Source: Office for National Statistics licensed under the Open
Government Licence v.3.0; Contains OS data \(co Crown copyright and database
right.
END
