-- Notifications bundled per person: while a person has an unanswered
-- notification from a service, further pages for them on that service
-- within the service's window are not notified one by one but folded into
-- one follow-up, sent when the window closes. Every page is still a page
-- (tracked, escalated, answerable); only the notifications are bundled.

-- The window, in seconds, of a service; NULL is the default (60 s), 0 is
-- off (every page notifies on its own).
ALTER TABLE services ADD COLUMN bundle_window_seconds BIGINT;

-- A person's window on a service: opened by the page whose notification
-- went out on its own (`lead_page`; none when the window followed another
-- straight away), further pages fold into `bundle` until `closes_at`. One
-- row per person and service, locked by the transaction that decides
-- whether a page notifies or folds, so two steps running at once on two
-- instances decide one after the other.
CREATE TABLE notification_windows (
    person      TEXT NOT NULL,
    service     BIGINT NOT NULL,
    lead_page   BIGINT,
    bundle      BIGINT,
    closes_at   BIGINT NOT NULL,
    PRIMARY KEY (person, service)
);

-- A bundle: the pages folded into one follow-up notification. `lead_page`
-- is the page whose own notification opened the window (none when the
-- window followed another one straight away); `sent_at` is when the
-- follow-up went out, with `count` pages in it.
CREATE TABLE notification_bundles (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    person      TEXT NOT NULL,
    service     BIGINT NOT NULL,
    lead_page   BIGINT,
    opened_at   BIGINT NOT NULL,
    closes_at   BIGINT NOT NULL,
    sent_at     BIGINT,
    count       BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE bundled_pages (
    bundle      BIGINT NOT NULL REFERENCES notification_bundles (id),
    page        BIGINT NOT NULL REFERENCES pages (id),
    step        BIGINT NOT NULL,
    PRIMARY KEY (bundle, page, step)
);
CREATE INDEX bundled_pages_by_page ON bundled_pages (page);

-- Alerts grouped for auto-declare: an incident declared for a new alert
-- keeps its service's group, and while it is open further new alerts of
-- that group join it instead of declaring one each (a storm on one service
-- declares one incident). NULL: not declared for a group.
ALTER TABLE incidents ADD COLUMN alert_group TEXT;
CREATE INDEX incidents_by_alert_group ON incidents (alert_group) WHERE alert_group IS NOT NULL;
