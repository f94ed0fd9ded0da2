-- A person's time zone (an IANA name such as Europe/Berlin), for what
-- depends on their clock: insights count the pages that reached them at
-- night and on weekends in it. None: UTC.
ALTER TABLE users ADD COLUMN time_zone TEXT;
