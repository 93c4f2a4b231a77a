#!/bin/sh
# meson install script: installs the commented default config file unless
# one is already there, so that an administrator's edits survive a
# reinstall or an upgrade from source (install_data would overwrite it).
# Packages build into an empty DESTDIR and always get it; dpkg then keeps
# it as a conffile.  Usage: install-conf.sh SOURCE DESTINATION
set -e
dest=${DESTDIR:-}$2
if [ -e "$dest" ]; then
    echo "Keeping $dest (the defaults are in $1)"
    exit 0
fi
echo "Installing $1 to $dest"
install -D -m 0644 "$1" "$dest"
