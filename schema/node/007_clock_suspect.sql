-- 007_clock_suspect.sql - records saved while the board's clock was wrong.
-- A board without a battery-backed clock may boot in 1970. The node never
-- believes a time earlier than the newest it has seen (common/hlc.h: the
-- build date, the hub's time at the last sync, the newest time it handed
-- out), so such a record gets a time from that floor onwards; it is listed
-- here, and once a sync learns the hub's time, its created_at/updated_at
-- are corrected from the time elapsed since (CLOCK_BOOTTIME, same boot) and
-- the corrected version goes up (node/clock.c). A record of an earlier boot
-- cannot be corrected (its elapsed time is lost) and stays listed with
-- corrected NULL, for status to show.
CREATE TABLE clock_suspect (
    tbl       TEXT NOT NULL,
    row_id    TEXT NOT NULL,
    boot_id   TEXT NOT NULL,        -- /proc/sys/kernel/random/boot_id at the save
    boot_ms   INTEGER NOT NULL,     -- CLOCK_BOOTTIME then, ms
    saved_at  TEXT NOT NULL,        -- the time it was given
    corrected TEXT,                 -- the time it was corrected to; NULL: not (yet)
    PRIMARY KEY (tbl, row_id)
) WITHOUT ROWID;
