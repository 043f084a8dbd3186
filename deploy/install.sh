#!/bin/sh
# Installs GrowthRS into a new virtual environment: the core and the providers named.
#
#   deploy/install.sh VENV SOURCE [PROVIDER...]
#
# The image's one install step (deploy/Dockerfile runs it), and what
# tests/deploy/test_deploy_image.py runs in a clean venv, so that test checks exactly
# what the image holds. SOURCE is a checkout (the build context); each PROVIDER
# names a directory plugins/growthrs_<PROVIDER> in it. The core and the providers
# go in one pip call, so their dependency on growthrs-core resolves to SOURCE,
# never to an index.
set -eu
if [ $# -lt 2 ]; then
  echo "usage: $0 VENV SOURCE [PROVIDER...]" >&2
  exit 2
fi
venv=$1
src=$2
shift 2
set -- "$src" $(for provider in "$@"; do echo "$src/plugins/growthrs_$provider"; done)
for dir in "$@"; do
  if [ ! -f "$dir/pyproject.toml" ]; then
    echo "$0: no Python project in $dir (PROVIDERS names plugins/growthrs_<name>)" >&2
    exit 2
  fi
done
python3 -m venv "$venv"
"$venv/bin/pip" install --disable-pip-version-check "$@"
# kubernetes>=36 bundles an asyncio client (kubernetes/aio, two thirds of the
# package) that nothing imports: GrowthRS uses the synchronous client.
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
rm -rf "$site/kubernetes/aio"
# Nothing installs anything at run time: the final image carries no installer.
"$venv/bin/pip" uninstall --yes --quiet pip
