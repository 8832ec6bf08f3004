#!/bin/sh
# embed.sh NAME FILE: writes C source defining `const unsigned char NAME[]` (the
# file's bytes, NUL-terminated) and `const unsigned long NAME_len`.
set -eu
name=$1 file=$2
printf '/* Generated from %s by scripts/embed.sh; do not edit. */\n' "$file"
printf 'extern const unsigned char %s[];\nextern const unsigned long %s_len;\n' "$name" "$name"
printf 'const unsigned char %s[] = {\n' "$name"
od -An -v -tu1 "$file" | sed -e 's/  */ /g' -e 's/^ //' -e 's/ $//' -e 's/ /,/g' -e 's/$/,/' -e '/^,$/d'
printf '0};\nconst unsigned long %s_len = sizeof %s - 1;\n' "$name" "$name"
