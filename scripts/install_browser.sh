#!/usr/bin/env bash
# Install Debian's Chromium for the real-browser test (Playwright drives /usr/bin/chromium; it never
# downloads a browser). Only where we are root and apt-get exists; otherwise the test skips.
set -u
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian chromium for the browser test..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "chromium install failed; the browser test will be skipped"
else
  echo "chromium not installed and not root: the browser test will be skipped"
fi
exit 0
