-- `GET /api/v1/pages?state=…` lists pages of some states newest first,
-- a page at a time (`before=`): in a storm, without reading every page.

CREATE INDEX pages_by_state ON pages (state, id);
