-- Timelines read a subject's events (an escrow's, a dispute's) in order.
CREATE INDEX events_tenant_subject ON events (tenant_id, subject_id, id);
