"""The audit store's disk guard (issue 16: retention without a silent overwrite).

The store never deletes or overwrites an audit record (triggers refuse it), so the danger is a full disk: the gateway
would then refuse requests it cannot audit. Run daily (``oscar-gateway-admin audit-guard``, by
oscar-gateway-audit-guard.timer), the guard measures the store's growth over the last 30 days and warns when, at that
rate, the disk holding it would fill within ``disk_warn_days``, when keeping ``retention_days`` of records needs more
than the disk has free, or when less than a tenth of the disk is free. Each warning is audited too, so it also
reaches the off-box copy.
"""

MONTH_DAYS = 30
FREE_SHARE_FLOOR = 0.10
MB = 1024 * 1024


def assess(used_bytes, rows, rows_last_month, free_bytes, total_bytes, retention_days, warn_days):
    """(warnings, figures) for a store of ``rows`` records in ``used_bytes`` on a disk with ``free_bytes`` free of
    ``total_bytes``, ``rows_last_month`` of them written in the last MONTH_DAYS days."""
    bytes_per_row = used_bytes / rows if rows else 0.0
    daily_bytes = rows_last_month / MONTH_DAYS * bytes_per_row
    days_left = free_bytes / daily_bytes if daily_bytes else None
    # What keeping retention_days of records at this rate still needs beyond what the store holds now.
    needed = max(0.0, daily_bytes * retention_days - used_bytes)
    figures = {"records": rows, "records_last_30_days": rows_last_month, "store_mb": round(used_bytes / MB, 1),
               "growth_mb_per_day": round(daily_bytes / MB, 3), "free_mb": round(free_bytes / MB, 1),
               "days_until_full": int(days_left) if days_left is not None else None,
               "retention_days": retention_days, "retention_needs_mb": round(needed / MB, 1)}
    warnings = []
    if days_left is not None and days_left < warn_days:
        warnings.append("at the current rate (%.1f MB a day) the disk holding the audit store fills in %d days "
                        "(the guard warns below %d): add space or move the store" % (daily_bytes / MB, days_left,
                                                                                     warn_days))
    if needed > free_bytes:
        warnings.append("keeping %d days of audit records at the current rate needs %.0f MB more, and the disk has "
                        "%.0f MB free" % (retention_days, needed / MB, free_bytes / MB))
    if total_bytes and free_bytes < total_bytes * FREE_SHARE_FLOOR:
        warnings.append("only %.0f%% of the disk holding the audit store is free" % (100.0 * free_bytes / total_bytes))
    return warnings, figures
