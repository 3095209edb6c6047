#!/bin/sh
# fetch-areas.sh [DIR] - fetch Indonesia's administrative areas (npm package
# idn-area-data 4.0.1, data under ODbL) into DIR (default: var/idn-area).
# Prints DIR. Does nothing when DIR already holds the data.
set -eu
dir=${1:-var/idn-area}
version=4.0.1
if [ -f "$dir/villages.csv" ] && [ "$(cat "$dir/.version" 2>/dev/null)" = "$version" ]; then
    echo "$dir"
    exit 0
fi
command -v npm >/dev/null || { echo "fetch-areas.sh: npm is needed (apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "idn-area-data@$version" >/dev/null)
tar -xzf "$tmp/idn-area-data-$version.tgz" -C "$tmp"
mkdir -p "$dir"
for f in provinces regencies districts villages; do
    cp "$tmp/package/data/$f.csv" "$dir/$f.csv"
done
cp "$tmp/package/data/LICENSE.md" "$dir/LICENSE.md"
cat > "$dir/SOURCE.md" <<EOT
Indonesia administrative area data from idn-area-data $version (ODbL 1.0,
LICENSE.md beside this file), fetched with \`npm pack idn-area-data@$version\`.
EOT
echo "$version" > "$dir/.version"
echo "$dir"
