# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTML report printed to PDF by Chromium (Debian's ``chromium`` on the controller), so the PDF is the same page
the privacy officer sees in a browser. Chromium reads only the local file: the page has no external asset and its
Content-Security-Policy forbids fetching any."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import subprocess
import tempfile

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync",
          "--disable-component-update", "--no-first-run", "--no-pdf-header-footer")


class PdfError(RuntimeError):
    pass


def find_chromium(explicit=None):
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise PdfError("chromium: %s is not an executable" % explicit)
        return explicit
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise PdfError("no Chromium on the controller for the PDF (apt-get install chromium), or set access_report_pdf: "
                   "false for HTML and CSV only")


def print_pdf(html_path, pdf_path, chromium=None, timeout=120):
    """Write ``pdf_path`` from the HTML file ``html_path``; raises PdfError when Chromium fails."""
    binary = find_chromium(chromium)
    profile = tempfile.mkdtemp(prefix="access-report-chromium-")
    try:
        cmd = [binary, *_FLAGS, "--user-data-dir=" + profile, "--print-to-pdf=" + os.path.abspath(pdf_path),
               "file://" + os.path.abspath(html_path)]
        try:
            # Our own argument list, no shell.
            done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,  # noqa: S603
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise PdfError("chromium did not finish the PDF within %d s" % timeout) from exc
        if done.returncode != 0 or not os.path.exists(pdf_path) or os.path.getsize(pdf_path) == 0:
            raise PdfError("chromium could not print the PDF (exit %d): %s"
                           % (done.returncode, done.stderr.decode("utf-8", "replace")[-500:]))
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return pdf_path
