-- Live views on every instance wake when an incident gets new timeline
-- entries (LISTEN muster_incidents); the payload is the schema, as for jobs.
CREATE FUNCTION muster_notify_incidents() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('muster_incidents', current_schema());
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER incident_events_notify AFTER INSERT ON incident_events
    FOR EACH STATEMENT EXECUTE FUNCTION muster_notify_incidents();
