#!/usr/bin/env bash
# Installs the real browsers the browser tests drive, from Debian packages only:
#   chromium (playwright-core), firefox-esr (puppeteer-core, WebDriver BiDi),
#   webkit2gtk-driver (WebKitWebDriver + MiniBrowser, selenium-webdriver) and xvfb (MiniBrowser has
#   no headless switch), plus fonts so screenshots have glyphs.
# A fast no-op when everything is present; otherwise one `apt-get update` and one install (as root,
# or through sudo). Prints a one-line summary of the versions.
set -euo pipefail

PACKAGES=(chromium firefox-esr webkit2gtk-driver xvfb xauth fonts-dejavu-core)

have_all() {
  [ -x /usr/bin/chromium ] && [ -x /usr/bin/firefox-esr ] \
    && command -v WebKitWebDriver >/dev/null 2>&1 && command -v xvfb-run >/dev/null 2>&1 \
    && command -v xauth >/dev/null 2>&1 && [ -d /usr/share/fonts/truetype/dejavu ]
}

if ! have_all; then
  SUDO=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "error: installing ${PACKAGES[*]} needs root (or sudo)" >&2; exit 1; }
    SUDO=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
  have_all || { echo "error: browser packages installed but a binary is still missing" >&2; exit 1; }
fi

# /usr/bin/chromium is a wrapper script that prints a harmless shell warning on some hosts.
chromium_v="$(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}')"
firefox_v="$(/usr/bin/firefox-esr --version 2>/dev/null | awk '{print $3}')"
webkit_v="$(dpkg-query -W -f='${Version}' webkit2gtk-driver 2>/dev/null || echo '?')"
xvfb_v="$(dpkg-query -W -f='${Version}' xvfb 2>/dev/null || echo '?')"
echo "browsers: chromium ${chromium_v:-?}, firefox-esr ${firefox_v:-?}, webkit2gtk-driver ${webkit_v}, xvfb ${xvfb_v}"
