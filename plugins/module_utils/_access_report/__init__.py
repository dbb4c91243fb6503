# Copyright (c) 2026, oscar_emr.remote_access contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The privacy officer's monthly access report: ``model`` reads the gateway's export (``oscar-gateway-admin
report-export``) and the clinic's inventory into tables, ``render`` writes them as one self-contained HTML page and
CSV files, ``pdf`` prints the HTML with Chromium."""
