-- Live views wake per incident: the payload names the schema and the
-- incident ("<schema> <number>"). One notification per incident and
-- transaction: PostgreSQL folds identical payloads of one transaction.
CREATE OR REPLACE FUNCTION muster_notify_incidents() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('muster_incidents', current_schema() || ' ' || NEW.incident);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER incident_events_notify ON incident_events;
CREATE TRIGGER incident_events_notify AFTER INSERT ON incident_events
    FOR EACH ROW EXECUTE FUNCTION muster_notify_incidents();
