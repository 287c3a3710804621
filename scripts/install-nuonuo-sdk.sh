#!/bin/sh
# The official 诺诺 Java SDK (com.nuonuo:open-sdk 1.0.5.2, Maven Central) and its dependencies
# into .tools/nuonuo-sdk/lib, for examples/nuonuo_java and its test. Maven's own repository
# is kept under .tools/m2, so nothing outside the checkout changes. Without Maven or a JDK
# this says how to get them and succeeds (the Java test then says the same and is skipped).
set -e
cd "$(dirname "$0")/.."
lib=.tools/nuonuo-sdk/lib
if [ -f "$lib/open-sdk-1.0.5.2.jar" ]; then
    exit 0
fi
if ! command -v mvn >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
    echo "note: the nuonuo Java SDK test needs a JDK and Maven (Debian: apt-get install default-jdk-headless maven); skipped" >&2
    exit 0
fi
mkdir -p "$lib"
mvn -B -q -f examples/nuonuo_java/pom.xml -Dmaven.repo.local="$PWD/.tools/m2" \
    dependency:copy-dependencies -DoutputDirectory="$PWD/$lib"
ls "$lib"/open-sdk-1.0.5.2.jar >/dev/null
