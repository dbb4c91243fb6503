# Copyright: contributors to oscar_emr.remote_access
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nginx role's checks and helpers as filters; the rules live in plugins/module_utils/_nginx.py.

The role itself checks its variables with the ``nginx_validate`` action plugin; ``nginx_input_errors`` stays a filter
for playbooks that want the same messages.
"""

from ansible_collections.oscar_emr.remote_access.plugins.module_utils._nginx import (
    nginx_input_errors,
    nginx_internal_ca_due,
    nginx_subject_alt_names,
)


class FilterModule:
    """nginx role input checks and helpers."""

    def filters(self):
        return {"nginx_input_errors": nginx_input_errors, "nginx_subject_alt_names": nginx_subject_alt_names,
                "nginx_internal_ca_due": nginx_internal_ca_due}
