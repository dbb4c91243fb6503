# Copyright: contributors to oscar_emr.remote_access
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""place_files entries for many files of one owner, group and mode (the rules: plugins/module_utils/_file_placement.py).
``names | oscar_emr.remote_access.file_entries(src_dir, dest_dir, owner, group, mode)``."""
from ansible_collections.oscar_emr.remote_access.plugins.module_utils._file_placement import file_entries


class FilterModule:
    """place_files helpers."""

    def filters(self):
        return {"file_entries": file_entries}
